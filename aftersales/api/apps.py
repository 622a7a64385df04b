from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "aftersales.api"
    label = "api"
    verbose_name = _("API")

    def ready(self) -> None:
        from datetime import timedelta

        from aftersales.api import idempotency
        from aftersales.outbox.scheduler import register_periodic

        register_periodic(
            "api.purge_idempotency_keys",
            every=timedelta(hours=1),
            function=idempotency.purge_expired,
        )
