"""URLs of the knowledge pages."""

from django.urls import path

from aftersales.knowledge import views

app_name = "knowledge"
urlpatterns = [
    path("", views.article_list, name="article_list"),
    path("new/", views.article_create, name="article_create"),
    path("categories/", views.category_list, name="category_list"),
    path("settings/synonyms/", views.synonym_list, name="synonym_list"),
    path("settings/synonyms/<int:pk>/delete/", views.synonym_delete, name="synonym_delete"),
    path("settings/searches/", views.search_log, name="search_log"),
    path("files/<int:pk>/", views.attachment_download, name="attachment_download"),
    path("tickets/<int:ticket_pk>/", views.ticket_panel, name="ticket_panel"),
    path("tickets/<int:ticket_pk>/link/", views.ticket_link, name="ticket_link"),
    path(
        "tickets/<int:ticket_pk>/links/<int:link_pk>/delete/",
        views.ticket_unlink,
        name="ticket_unlink",
    ),
    path(
        "<int:pk>/files/<int:attachment_pk>/delete/",
        views.attachment_delete,
        name="attachment_delete",
    ),
    path("<int:pk>/", views.article_detail, name="article_detail"),
    path("<int:pk>/edit/", views.article_edit, name="article_edit"),
    path("<int:pk>/<str:action>/", views.article_action, name="article_action"),
    path(
        "<int:pk>/revisions/<int:number>/restore/",
        views.revision_restore,
        name="revision_restore",
    ),
]
