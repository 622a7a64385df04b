"""Which staff notifications go out on which channel when a person has not chosen.

Everything arrives under the bell; e-mail carries what needs acting on (an assignment, a
mention, an SLA warning); SMS is opt-in. Group robots post to a team's chat and are not a
personal choice.
"""

from __future__ import annotations

from collections.abc import Iterable

from aftersales.notifications.choices import Channel, Event
from aftersales.notifications.models import Preference

# The channels a staff member can switch per event.
STAFF_CHANNELS: tuple[str, ...] = (Channel.IN_APP, Channel.EMAIL, Channel.SMS)

_EMAIL_BY_DEFAULT = {Event.TICKET_ASSIGNED, Event.MENTIONED, Event.SLA_WARNING}


def default_for(event: str, channel: str) -> bool:
    if channel == Channel.IN_APP:
        return True
    if channel == Channel.EMAIL:
        return event in _EMAIL_BY_DEFAULT
    return False


def choices_of(user_ids: Iterable[int], event: str) -> dict[tuple[int, str], bool]:
    """(user id, channel) → enabled, for the rows people stored about ``event``."""
    rows = Preference.objects.filter(user_id__in=list(user_ids), event=event).values_list(
        "user_id", "channel", "is_enabled"
    )
    return {(user_id, channel): enabled for user_id, channel, enabled in rows}


def matrix_for(user_id: int) -> dict[str, dict[str, bool]]:
    """event → channel → enabled, for one person's preference page, defaults filled in."""
    stored = {
        (event, channel): enabled
        for event, channel, enabled in Preference.objects.filter(user_id=user_id).values_list(
            "event", "channel", "is_enabled"
        )
    }
    return {
        event: {
            channel: stored.get((event, channel), default_for(event, channel))
            for channel in STAFF_CHANNELS
        }
        for event in Event.values
    }
