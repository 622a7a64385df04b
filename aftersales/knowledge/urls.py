"""URLs of the knowledge pages."""

from django.urls import path

from aftersales.knowledge import views

app_name = "knowledge"
urlpatterns = [
    path("", views.article_list, name="article_list"),
    path("new/", views.article_create, name="article_create"),
    path("categories/", views.category_list, name="category_list"),
    path("<int:pk>/", views.article_detail, name="article_detail"),
    path("<int:pk>/edit/", views.article_edit, name="article_edit"),
    path("<int:pk>/<str:action>/", views.article_action, name="article_action"),
    path(
        "<int:pk>/revisions/<int:number>/restore/",
        views.revision_restore,
        name="revision_restore",
    ),
]
