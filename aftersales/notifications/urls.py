from django.urls import path

from aftersales.notifications import channel_views, views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list, name="list"),
    path("read-all/", views.notification_read_all, name="read_all"),
    path("bell/", views.bell, name="bell"),
    path("preferences/", views.preference_page, name="preferences"),
    path("<int:pk>/read/", views.notification_read, name="read"),
    path("log/", views.log_list, name="log_list"),
    path("<int:pk>/log/", views.delivery_log, name="log"),
    path("settings/templates/", views.template_list, name="template_list"),
    path("settings/templates/new/", views.template_create, name="template_create"),
    path("settings/templates/<int:pk>/", views.template_edit, name="template_edit"),
    path("settings/channels/", channel_views.channel_page, name="channels"),
    path(
        "settings/channels/reactions/<int:pk>/",
        channel_views.reaction_update,
        name="reaction_update",
    ),
    path("settings/channels/robots/new/", channel_views.robot_create, name="robot_create"),
    path("settings/channels/robots/<int:pk>/", channel_views.robot_edit, name="robot_edit"),
    path(
        "settings/channels/robots/<int:pk>/delete/",
        channel_views.robot_delete,
        name="robot_delete",
    ),
    path("settings/channels/sms/", channel_views.sms_edit, name="sms_edit"),
]
