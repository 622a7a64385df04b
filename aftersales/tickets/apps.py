from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "aftersales.tickets"
    label = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.tickets.models import Ticket, TicketType

        # Statuses and transitions are edited through their ticket type's permissions.
        catalog.register_object_type(
            "tickets",
            "tickettype",
            _("Ticket types"),
            actions=("view", "add", "change", "delete", "configure"),
        )
        # A ticket type is configuration of one business line.
        authz.register_scope(TicketType, authz.ScopeRule(business_line="business_line"))

        catalog.register_object_type(
            "tickets", "ticket", _("Tickets"), actions=("view", "add", "change", "delete", "export")
        )
        for codename, label in (
            ("tickets.take_ticket", _("Take unassigned tickets")),
            ("tickets.reply_ticket", _("Reply to customers")),
            ("tickets.add_note", _("Add internal notes")),
            ("tickets.merge_ticket", _("Merge tickets")),
            ("tickets.add_macro", _("Keep personal macros")),
            ("tickets.share_macro", _("Share macros with everyone")),
            ("tickets.share_savedview", _("Share inbox views with everyone")),
        ):
            catalog.register_permission(codename, label, _("Tickets"))
        from aftersales.customfields.registry import register_subtarget_labels
        from aftersales.outbox.registry import register_subscriber
        from aftersales.outbox.scheduler import register_periodic
        from aftersales.tickets import reactions

        register_subtarget_labels("tickets.ticket", reactions.ticket_type_form_label)

        register_subscriber(
            "tickets.move_merged_customer_tickets",
            ("customer.merged",),
            reactions.on_customer_merged,
        )
        register_periodic(
            "tickets.close_solved_tickets",
            every=timedelta(minutes=15),
            function=reactions.close_solved_tickets,
        )
        register_periodic(
            "tickets.sweep_orphan_files",
            every=timedelta(hours=6),
            function=reactions.sweep_orphan_files,
        )
        # "Own" tickets are those assigned to or created by the person.
        authz.register_scope(
            Ticket,
            authz.ScopeRule(
                owner=("assignee", "created_by"), team="team", business_line="business_line"
            ),
        )
