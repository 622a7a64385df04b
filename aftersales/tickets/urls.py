"""URLs of the tickets pages (configuration lives under ``settings/``)."""

from django.urls import URLPattern, path

from aftersales.tickets import macro_views, views, workspace

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

# The agent workspace (aftersales/tickets/workspace.py). The ticket page matches any one-segment
# reference (its number or id), so it comes last.
urlpatterns += [
    path("", workspace.inbox, name="inbox"),
    path("new/", workspace.ticket_create, name="ticket_create"),
    path("new/customers/", workspace.customer_search, name="customer_search"),
    path("bulk/", workspace.bulk_action, name="bulk"),
    path("views/new/", workspace.saved_view_create, name="saved_view_create"),
    path("views/<int:pk>/delete/", workspace.saved_view_delete, name="saved_view_delete"),
    path("attachments/<int:pk>/", workspace.attachment_download, name="attachment"),
    path("<int:pk>/take/", workspace.ticket_take, name="ticket_take"),
    path("<int:pk>/properties/", workspace.ticket_properties, name="ticket_properties"),
    path("<int:pk>/comments/", workspace.ticket_comment, name="ticket_comment"),
    path("<int:pk>/links/", workspace.link_add, name="link_add"),
    path("<int:pk>/links/<int:link_pk>/remove/", workspace.link_remove, name="link_remove"),
    path("<int:pk>/merge/", workspace.ticket_merge, name="ticket_merge"),
    path("<int:pk>/macro/", workspace.ticket_macro, name="ticket_macro"),
    path("<int:pk>/split/<int:comment_pk>/", workspace.ticket_split, name="ticket_split"),
    path("<str:reference>/", workspace.ticket_detail, name="ticket_detail"),
]
