"""Readable ticket numbers: ``REP-202611-0001``, unique and never reused.

The prefix is the ticket type's ``number_prefix`` or else its business line's code in capitals;
the middle part is the month the ticket was created in (the server's time zone), so numbers
stay short and a person can tell an old ticket from a new one at a glance.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from aftersales.tickets.models import TicketNumberSequence, TicketType

_NOT_PREFIX = re.compile(r"[^A-Z0-9]")
DIGITS = 4


def prefix_of(ticket_type: TicketType) -> str:
    if ticket_type.number_prefix:
        return ticket_type.number_prefix
    code = _NOT_PREFIX.sub("", ticket_type.business_line.code.upper())[:10]
    return code or "T"


def next_number(ticket_type: TicketType) -> str:
    """Draw the next number for the type's prefix in the current month.

    Must run inside the transaction that creates the ticket: the sequence row stays locked
    until it commits, and a rollback gives the number back.
    """
    prefix = prefix_of(ticket_type)
    period = timezone.localtime().strftime("%Y%m")
    value = _draw(prefix, period)
    if value is None:
        try:
            with transaction.atomic():
                TicketNumberSequence.objects.create(prefix=prefix, period=period, last_value=1)
            value = 1
        except IntegrityError:
            # Someone created this month's row a moment ago: draw from it instead.
            value = _draw(prefix, period)
    if value is None:
        raise RuntimeError(f"No number sequence row for {prefix}-{period}.")
    return f"{prefix}-{period}-{value:0{DIGITS}d}"


def _draw(prefix: str, period: str) -> int | None:
    """Add one to the month's row and return the new value, in one statement: the row stays
    locked until the creating transaction ends, so every query after this one holds up the
    next ticket of the prefix. None when the month has no row yet."""
    table = connection.ops.quote_name(TicketNumberSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_value = last_value + 1"  # noqa: S608 (a model's table)
            " WHERE prefix = %s AND period = %s RETURNING last_value",
            [prefix, period],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])
