"""Two editors changing one lifecycle at once: the type row serialises them."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from aftersales.accounts.models import User
from aftersales.tickets import services
from aftersales.tickets.models import TicketStatus, TicketType
from tests.tickets.conftest import status


@pytest.mark.django_db(transaction=True)
def test_two_editors_making_different_statuses_initial_leave_exactly_one(
    admin_user: User, make_type: Callable[..., TicketType]
) -> None:
    """Without the lifecycle lock the second editor hits the one-initial constraint (a 500)."""
    # given
    ticket_type = make_type()
    targets = [status(ticket_type, "open"), status(ticket_type, "pending_customer")]
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def make_initial(target: TicketStatus) -> None:
        try:
            barrier.wait(timeout=10)
            services.update_status(actor=admin_user, status=target, changes={"is_initial": True})
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=make_initial, args=(t,)) for t in targets]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then
    assert errors == []
    initial = list(
        TicketStatus.objects.filter(ticket_type=ticket_type, is_initial=True).values_list(
            "key", flat=True
        )
    )
    assert len(initial) == 1
    assert initial[0] in {"open", "pending_customer"}
