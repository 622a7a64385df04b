"""URLs of the customers pages."""

from django.urls import path

from aftersales.customers import views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="customer_list"),
    path("new/", views.customer_create, name="customer_create"),
    path("import/", views.customer_import, name="customer_import"),
    path("export/", views.customer_export, name="customer_export"),
    path("<int:pk>/", views.customer_detail, name="customer_detail"),
    path("<int:pk>/edit/", views.customer_edit, name="customer_edit"),
    path("<int:pk>/identities/", views.identity_add, name="identity_add"),
    path(
        "<int:pk>/identities/<int:identity_pk>/remove/",
        views.identity_remove,
        name="identity_remove",
    ),
    path("<int:pk>/identities/link/", views.identity_link, name="identity_link"),
    path("<int:pk>/notes/", views.note_add, name="note_add"),
    path("<int:pk>/merge/", views.customer_merge, name="customer_merge"),
    path("organisations/", views.organisation_list, name="organisation_list"),
    path("organisations/new/", views.organisation_create, name="organisation_create"),
    path("organisations/<int:pk>/", views.organisation_detail, name="organisation_detail"),
    path("organisations/<int:pk>/edit/", views.organisation_edit, name="organisation_edit"),
]
