"""How tickets react to other modules' events (outbox subscribers) and to time (periodic jobs)."""

from __future__ import annotations

from aftersales.outbox.models import OutboxEvent
from aftersales.tickets import services


def on_customer_merged(event: OutboxEvent) -> None:
    """The merged customer's tickets now belong to the survivor (one person, one history)."""
    services.move_customer_tickets(
        survivor_id=int(event.payload["survivor_id"]), merged_id=int(event.payload["merged_id"])
    )


def close_solved_tickets() -> int:
    return services.close_solved_tickets()


def sweep_orphan_files() -> int:
    return services.sweep_orphan_files()


def ticket_type_form_label(subtarget: str) -> str:
    """``type-7`` → "Repair · Home appliances": the form of one ticket type, for people."""
    from aftersales.tickets.models import TicketType

    pk = subtarget.removeprefix("type-")
    if not pk.isdigit():
        return subtarget
    ticket_type = TicketType.objects.select_related("business_line").filter(pk=int(pk)).first()
    if ticket_type is None:
        return subtarget
    return f"{ticket_type.name} · {ticket_type.business_line.name}"
