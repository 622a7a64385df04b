from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebFormsConfig(AppConfig):
    name = "aftersales.webforms"
    label = "webforms"
    verbose_name = _("Web forms")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.outbox import scheduler
        from aftersales.webforms import services
        from aftersales.webforms.models import WebForm

        catalog.register_object_type(
            "webforms", "webform", _("Web forms"), actions=("view", "add", "change", "delete")
        )
        # A form belongs to its ticket type's business line, and to its team when it has one.
        authz.register_scope(
            WebForm, authz.ScopeRule(team="team", business_line="ticket_type__business_line")
        )
        scheduler.register_periodic(
            "webforms.forget_rate_windows",
            every=timedelta(minutes=30),
            function=services.forget_rate_windows,
        )
