from django.urls import URLPattern, URLResolver, path

from aftersales.webforms import views

app_name = "webforms"
urlpatterns: list[URLPattern | URLResolver] = [
    path("settings/", views.form_list, name="list"),
    path("settings/new/", views.form_create, name="create"),
    path("settings/<int:pk>/", views.form_edit, name="edit"),
    path("settings/<int:pk>/rotate/", views.form_rotate, name="rotate"),
    path("settings/<int:pk>/delete/", views.form_delete, name="delete"),
    path("<str:key>/", views.form_page, name="form"),
    path("<str:key>/fields/", views.fields, name="fields"),
    path("<str:key>/done/", views.done, name="done"),
    path("<str:key>/embed.js", views.embed_script, name="embed"),
]
