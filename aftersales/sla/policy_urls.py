"""URLs of SLA policies and the SLA views (mounted at ``sla/``)."""

from django.urls import URLPattern, path

import aftersales.sla.policy_views as policy_views

app_name = "sla_policies"

urlpatterns: list[URLPattern] = [
    path("policies/", policy_views.policy_list, name="policy_list"),
    path("policies/new/", policy_views.policy_create, name="policy_create"),
    path("policies/<int:pk>/", policy_views.policy_edit, name="policy_edit"),
    path("policies/<int:pk>/delete/", policy_views.policy_delete, name="policy_delete"),
    path("badges/", policy_views.badges, name="badges"),
    path("at-risk/", policy_views.at_risk, name="at_risk"),
    path("attainment/", policy_views.attainment, name="attainment"),
    path("attainment/export/", policy_views.attainment_export, name="attainment_export"),
]
