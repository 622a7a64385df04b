from django.urls import path

from aftersales.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list, name="list"),
    path("read-all/", views.notification_read_all, name="read_all"),
    path("preferences/", views.preference_page, name="preferences"),
    path("<int:pk>/read/", views.notification_read, name="read"),
    path("<int:pk>/log/", views.delivery_log, name="log"),
    path("settings/templates/", views.template_list, name="template_list"),
    path("settings/templates/new/", views.template_create, name="template_create"),
    path("settings/templates/<int:pk>/", views.template_edit, name="template_edit"),
]
