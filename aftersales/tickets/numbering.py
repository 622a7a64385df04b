"""Readable ticket numbers: ``REP-202611-0001``, unique and never reused.

The prefix is the ticket type's ``number_prefix`` or else its business line's code in capitals;
the middle part is the month the ticket was created in (the server's time zone), so numbers
stay short and a person can tell an old ticket from a new one at a glance.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import F
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
    updated = TicketNumberSequence.objects.filter(prefix=prefix, period=period).update(
        last_value=F("last_value") + 1
    )
    if not updated:
        try:
            with transaction.atomic():
                TicketNumberSequence.objects.create(prefix=prefix, period=period, last_value=1)
        except IntegrityError:
            # Someone created this month's row a moment ago: draw from it instead.
            TicketNumberSequence.objects.filter(prefix=prefix, period=period).update(
                last_value=F("last_value") + 1
            )
    value = TicketNumberSequence.objects.get(prefix=prefix, period=period).last_value
    return f"{prefix}-{period}-{value:0{DIGITS}d}"
