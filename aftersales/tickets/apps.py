from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "aftersales.tickets"
    label = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.tickets.models import TicketType

        # Statuses and transitions are edited through their ticket type's permissions.
        catalog.register_object_type(
            "tickets",
            "tickettype",
            _("Ticket types"),
            actions=("view", "add", "change", "delete", "configure"),
        )
        # A ticket type is configuration of one business line.
        authz.register_scope(TicketType, authz.ScopeRule(business_line="business_line"))
