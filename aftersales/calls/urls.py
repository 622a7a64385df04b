from django.urls import URLPattern, URLResolver, path

from aftersales.calls import views

app_name = "calls"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.call_list, name="call_list"),
    path("new/", views.call_new, name="call_new"),
    path("ticket/<int:ticket_id>/", views.ticket_calls, name="ticket_calls"),
    path("ticket/<int:ticket_id>/log/", views.ticket_call_log, name="ticket_call_log"),
]
