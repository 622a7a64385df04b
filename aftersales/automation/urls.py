"""URLs of the rule and automation settings (mounted at ``settings/automation/``)."""

from django.urls import URLPattern, path

from aftersales.automation import views

app_name = "automation"

urlpatterns: list[URLPattern] = [
    path("rules/", views.rule_list, name="rule_list"),
    path("rules/new/", views.rule_create, name="rule_create"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/move/<str:direction>/", views.rule_move, name="rule_move"),
    path("automations/", views.automation_list, name="automation_list"),
    path("automations/new/", views.automation_create, name="automation_create"),
    path("automations/<int:pk>/", views.automation_edit, name="automation_edit"),
    path("<str:kind>/<int:pk>/delete/", views.item_delete, name="delete"),
    path("<str:kind>/<int:pk>/test/", views.item_test, name="test"),
    path("action-row/", views.action_row, name="action_row"),
    path("action-row/removed/", views.action_row_removed, name="action_row_removed"),
    path("tickets/<int:ticket_id>/log/", views.ticket_log, name="ticket_log"),
]
