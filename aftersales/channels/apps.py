from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    name = "aftersales.channels"
    label = "channels"
    verbose_name = _("E-mail channels")

    def ready(self) -> None:
        from aftersales.accounts import catalog
        from aftersales.channels import fetching
        from aftersales.channels.permissions import MANAGE_MAILBOXES
        from aftersales.outbox.scheduler import register_periodic

        catalog.register_permission(
            MANAGE_MAILBOXES,
            _("Manage mailboxes and the mail quarantine"),
            _("E-mail channels"),
        )
        # Each mailbox has its own polling interval; this only looks for the ones due.
        register_periodic(
            "channels.fetch_mail", every=timedelta(seconds=15), function=fetching.fetch_due
        )
