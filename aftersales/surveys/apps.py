from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "aftersales.surveys"
    label = "surveys"
    verbose_name = _("Satisfaction surveys")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.outbox.registry import register_subscriber
        from aftersales.outbox.scheduler import register_periodic
        from aftersales.surveys import services
        from aftersales.surveys.models import Survey, SurveySettings

        catalog.register_object_type(
            "surveys",
            "surveysettings",
            _("Survey settings"),
            actions=("view", "add", "change", "delete"),
        )
        # A line's settings belong to it; the default row (no line) only to "all" grants.
        authz.register_scope(SurveySettings, authz.ScopeRule(business_line="business_line"))
        catalog.register_object_type(
            "surveys", "survey", _("Satisfaction surveys"), actions=("view",)
        )
        # Like the ticket it belongs to (the selectors also require the ticket to be visible).
        authz.register_scope(
            Survey,
            authz.ScopeRule(
                owner="ticket__assignee", team="ticket__team", business_line="business_line"
            ),
        )
        catalog.register_permission(
            "surveys.record_response",
            _("Record a customer's rating given by phone"),
            _("Satisfaction surveys"),
        )
        # Scheduled in the same process right after the solving commit (a worker retries).
        register_subscriber(
            "surveys.schedule",
            ("ticket.status_changed",),
            services.on_ticket_status_changed,
            eager=True,
        )
        register_periodic(
            "surveys.send_due", every=timedelta(minutes=1), function=services.send_due_surveys
        )
