from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "aftersales.automation"
    label = "automation"
    verbose_name = _("Rules and automations")

    def ready(self) -> None:
        from datetime import timedelta

        from aftersales.accounts import catalog
        from aftersales.automation import engine, timed
        from aftersales.outbox.registry import register_subscriber
        from aftersales.outbox.scheduler import register_periodic

        catalog.register_object_type(
            "automation", "rule", _("Rules"), actions=("view", "add", "change", "delete")
        )
        catalog.register_object_type(
            "automation",
            "automation",
            _("Time-based automations"),
            actions=("view", "add", "change", "delete"),
        )
        register_subscriber("automation.rules", engine.TOPICS, engine.on_ticket_event, eager=True)
        register_periodic(
            "automation.sweep",
            every=timedelta(seconds=timed.sweep_seconds()),
            function=timed.sweep_all,
        )
