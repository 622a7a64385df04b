from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboxConfig(AppConfig):
    name = "aftersales.outbox"
    label = "outbox"
    verbose_name = _("Domain events")

    def ready(self) -> None:
        from datetime import timedelta

        from aftersales.accounts.catalog import register_object_type
        from aftersales.outbox import conf, scheduler, services

        register_object_type("outbox", "outboxevent", _("Domain events"), actions=("view",))
        sweep = timedelta(seconds=conf.sweep_seconds())
        scheduler.register_periodic(
            "outbox.requeue_due_deliveries",
            every=sweep,
            function=services.requeue_due_deliveries,
        )
        scheduler.register_periodic(
            "outbox.fail_abandoned_tasks",
            every=sweep,
            function=services.fail_abandoned_tasks,
        )
        scheduler.register_periodic(
            "outbox.prune_finished_tasks",
            every=timedelta(hours=6),
            function=services.prune_finished_task_results,
        )
