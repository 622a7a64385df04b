"""URLs of the custom-field settings pages (mounted at /settings/fields/)."""

from django.urls import URLPattern, path

from aftersales.customfields import views

app_name = "customfields"
urlpatterns: list[URLPattern] = [
    path("", views.field_list, name="field_list"),
    path("new/", views.field_choose_type, name="field_choose_type"),
    path("new/<str:field_type>/", views.field_create, name="field_create"),
    path("preview/", views.field_preview, name="field_preview"),
    path("reorder/", views.field_reorder, name="field_reorder"),
    path("<int:pk>/", views.field_edit, name="field_edit"),
    path("<int:pk>/deactivate/", views.field_deactivate, name="field_deactivate"),
    path("<int:pk>/activate/", views.field_activate, name="field_activate"),
    path("<int:pk>/move/", views.field_move, name="field_move"),
]
