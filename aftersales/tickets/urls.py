"""URLs of the tickets pages (configuration lives under ``settings/``)."""

from django.urls import URLPattern, path

from aftersales.tickets import macro_views, views

app_name = "tickets"

_TYPE = "settings/types/<int:pk>/"

urlpatterns: list[URLPattern] = [
    path("settings/types/", views.type_list, name="type_list"),
    path("settings/types/new/", views.type_create, name="type_create"),
    path(_TYPE, views.type_detail, name="type_detail"),
    path(f"{_TYPE}edit/", views.type_edit, name="type_edit"),
    path(f"{_TYPE}copy/", views.type_copy, name="type_copy"),
    path(f"{_TYPE}deactivate/", views.type_deactivate, name="type_deactivate"),
    path(f"{_TYPE}statuses/new/", views.status_create, name="status_create"),
    path(f"{_TYPE}statuses/<int:status_pk>/edit/", views.status_edit, name="status_edit"),
    path(f"{_TYPE}statuses/<int:status_pk>/move/", views.status_move, name="status_move"),
    path(f"{_TYPE}transitions/new/", views.transition_create, name="transition_create"),
    path(
        f"{_TYPE}transitions/<int:transition_pk>/edit/",
        views.transition_edit,
        name="transition_edit",
    ),
    path(
        f"{_TYPE}transitions/<int:transition_pk>/delete/",
        views.transition_delete,
        name="transition_delete",
    ),
    path(f"{_TYPE}guard-test/", views.guard_test, name="guard_test"),
    path("macros/", macro_views.macro_list, name="macro_list"),
    path("macros/new/", macro_views.macro_create, name="macro_create"),
    path("macros/preview/", macro_views.macro_preview, name="macro_preview"),
    path("macros/<int:pk>/", macro_views.macro_edit, name="macro_edit"),
    path("macros/<int:pk>/deactivate/", macro_views.macro_deactivate, name="macro_deactivate"),
]
