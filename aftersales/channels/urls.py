from django.urls import URLPattern, URLResolver, path

from aftersales.channels import views

app_name = "channels"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.mailbox_list, name="mailbox_list"),
    path("new/", views.mailbox_create, name="mailbox_create"),
    path("<int:pk>/", views.mailbox_edit, name="mailbox_edit"),
    path("<int:pk>/check/", views.mailbox_check, name="mailbox_check"),
    path("<int:pk>/test/", views.mailbox_test, name="mailbox_test"),
    path("<int:pk>/fetch/", views.mailbox_fetch, name="mailbox_fetch"),
    path("<int:pk>/delete/", views.mailbox_delete, name="mailbox_delete"),
    path("quarantine/", views.quarantine, name="quarantine"),
    path("messages/<int:pk>/", views.message_detail, name="message_detail"),
    path("messages/<int:pk>/raw/", views.message_raw, name="message_raw"),
    path("messages/<int:pk>/reprocess/", views.message_reprocess, name="message_reprocess"),
    path("messages/<int:pk>/original/", views.message_original, name="message_original"),
]
