from django.urls import URLPattern, URLResolver, path

from aftersales.surveys import views

app_name = "surveys"
urlpatterns: list[URLPattern | URLResolver] = [
    path("responses/", views.responses, name="responses"),
    path("settings/", views.settings_list, name="settings_list"),
    path("settings/new/", views.settings_create, name="settings_create"),
    path("settings/<int:pk>/", views.settings_edit, name="settings_edit"),
    path("settings/<int:pk>/delete/", views.settings_delete, name="settings_delete"),
    path("<str:token>/", views.answer, name="answer"),
]
