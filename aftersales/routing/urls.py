"""URLs of routing: its settings pages, the queues, "get next" and the availability switch
(mounted at ``routing/``)."""

from django.urls import URLPattern, path

from aftersales.routing import views

app_name = "routing"

urlpatterns: list[URLPattern] = [
    path("settings/", views.settings_home, name="settings"),
    path("settings/teams/<int:pk>/", views.team_edit, name="team_edit"),
    path("settings/skills/", views.skill_list, name="skill_list"),
    path("settings/skills/<int:pk>/", views.skill_edit, name="skill_edit"),
    path("settings/regions/", views.region_list, name="region_list"),
    path("settings/regions/<int:pk>/", views.region_edit, name="region_edit"),
    path("settings/agents/", views.agent_list, name="agent_list"),
    path("settings/agents/<int:pk>/", views.agent_edit, name="agent_edit"),
    path("queues/", views.queue_list, name="queue_list"),
    path("queues/<int:pk>/", views.queue_detail, name="queue_detail"),
    path("next/", views.take_next, name="next"),
    path("availability/", views.set_my_availability, name="availability"),
]
