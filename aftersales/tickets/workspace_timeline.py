"""A ticket's timeline in words: "insider changed priority from Normal to Urgent".

:class:`~aftersales.tickets.models.TicketEvent` rows keep display values (``changes`` maps a
field to ``[old, new]``); this module turns them into sentences in the reader's language, for
the ticket page and for the notice that tells an agent what a colleague changed meanwhile.
Nothing here queries more than the custom-field definitions the events name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aftersales.customfields.models import FieldDefinition
from aftersales.tickets.models import Ticket, TicketEvent, TicketLink

Kind = TicketEvent.Kind
CUSTOM_PREFIX = "custom_fields."

FIELD_NAMES: dict[str, str | Promise] = {
    "subject": gettext_lazy("subject"),
    "description": gettext_lazy("description"),
    "priority": gettext_lazy("priority"),
    "status": gettext_lazy("status"),
    "team": gettext_lazy("team"),
    "assignee": gettext_lazy("assignee"),
    "requester": gettext_lazy("requester"),
    "organisation": gettext_lazy("organisation"),
    "ticket_type": gettext_lazy("type"),
    "business_line": gettext_lazy("business line"),
    "tags": gettext_lazy("tags"),
    "followers": gettext_lazy("followers"),
    "due_at": gettext_lazy("due date"),
    "parent": gettext_lazy("parent ticket"),
    "channel": gettext_lazy("channel"),
}
# Long texts are not repeated on the timeline, only said to have changed.
LONG_TEXT = frozenset({"description"})


@dataclass
class EventLine:
    """One event as the page shows it."""

    event: TicketEvent
    actor: str
    sentences: list[str] = field(default_factory=list)

    @property
    def at(self) -> datetime:
        return self.event.created_at

    @property
    def kind(self) -> str:
        return self.event.kind

    @property
    def comment_id(self) -> int | None:
        return self.event.comment_id


def _language() -> str:
    return translation.get_language() or "en"


def _name(value: Mapping[str, Any]) -> str:
    """The display name kept in an event for a status, type, team, person or ticket."""
    if "number" in value:
        return str(value["number"])
    if "name_zh" in value or "name_en" in value:
        if _language().lower().startswith("zh"):
            return str(value.get("name_zh") or value.get("name_en") or "")
        return str(value.get("name_en") or value.get("name_zh") or "")
    return str(value.get("name", value.get("id", "")))


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


class _Reader:
    """Renders values of one batch of events; custom-field definitions are loaded once."""

    def __init__(self, events: Iterable[TicketEvent]) -> None:
        keys = {
            name.removeprefix(CUSTOM_PREFIX)
            for event in events
            for name in (event.changes or {})
            if name.startswith(CUSTOM_PREFIX)
        }
        self.definitions: dict[str, FieldDefinition] = {}
        if keys:
            for definition in FieldDefinition.objects.filter(
                target="tickets.ticket", key__in=keys
            ).order_by("-is_active", "pk"):
                self.definitions.setdefault(definition.key, definition)

    def field_name(self, name: str) -> str:
        if name.startswith(CUSTOM_PREFIX):
            key = name.removeprefix(CUSTOM_PREFIX)
            definition = self.definitions.get(key)
            return definition.label(_language()) if definition is not None else key
        return str(FIELD_NAMES.get(name, name.replace("_", " ")))

    def value(self, name: str, value: Any) -> str:
        if _is_empty(value):
            return "—"
        if name.startswith(CUSTOM_PREFIX):
            definition = self.definitions.get(name.removeprefix(CUSTOM_PREFIX))
            if definition is not None:
                try:
                    return definition.handler.display(value, definition.parsed_config, _language())
                except Exception:  # an old value must still render, as text at worst
                    return str(value)
        if name == "priority" and isinstance(value, int):
            try:
                return str(Ticket.Priority(value).label)
            except ValueError:
                return str(value)
        if name == "channel" and isinstance(value, str):
            try:
                return str(Ticket.Channel(value).label)
            except ValueError:
                return value
        if name == "due_at" and isinstance(value, str):
            moment = parse_datetime(value)
            if moment is not None:
                return date_format(timezone.localtime(moment), "Y-m-d H:i")
        if isinstance(value, Mapping):
            return _name(value)
        if isinstance(value, list):
            return ", ".join(_name(v) if isinstance(v, Mapping) else str(v) for v in value)
        return str(value)

    def change(self, actor: str, name: str, old: Any, new: Any) -> str:
        label = self.field_name(name)
        if name == "tags" and isinstance(old, list) and isinstance(new, list):
            return self._tags(actor, old, new)
        if name in LONG_TEXT:
            return _("%(actor)s changed the %(field)s.") % {"actor": actor, "field": label}
        if _is_empty(old):
            return _("%(actor)s set %(field)s to %(new)s.") % {
                "actor": actor,
                "field": label,
                "new": self.value(name, new),
            }
        if _is_empty(new):
            return _("%(actor)s cleared %(field)s (was %(old)s).") % {
                "actor": actor,
                "field": label,
                "old": self.value(name, old),
            }
        return _("%(actor)s changed %(field)s from %(old)s to %(new)s.") % {
            "actor": actor,
            "field": label,
            "old": self.value(name, old),
            "new": self.value(name, new),
        }

    def _tags(self, actor: str, old: list[Any], new: list[Any]) -> str:
        added = [str(t) for t in new if t not in old]
        removed = [str(t) for t in old if t not in new]
        if added and removed:
            return _("%(actor)s added the tags %(added)s and removed %(removed)s.") % {
                "actor": actor,
                "added": ", ".join(added),
                "removed": ", ".join(removed),
            }
        if added:
            return _("%(actor)s added the tags %(added)s.") % {
                "actor": actor,
                "added": ", ".join(added),
            }
        return _("%(actor)s removed the tags %(removed)s.") % {
            "actor": actor,
            "removed": ", ".join(removed),
        }


def _new(changes: Mapping[str, Any], name: str) -> Any:
    pair = changes.get(name)
    return pair[1] if isinstance(pair, list) and len(pair) == 2 else None


def _old(changes: Mapping[str, Any], name: str) -> Any:
    pair = changes.get(name)
    return pair[0] if isinstance(pair, list) and len(pair) == 2 else None


def _link_kind(kind: Any) -> str:
    try:
        return str(TicketLink.Kind(kind).label).lower()
    except ValueError:
        return str(kind)


def _rating_sentences(changes: Mapping[str, Any], recorder: str) -> list[str]:
    rating = _new(changes, "satisfaction")
    if recorder:
        sentences = [
            _("%(actor)s recorded the customer's satisfaction rating: %(rating)s.")
            % {"actor": recorder, "rating": rating}
        ]
    else:
        sentences = [_("The customer rated the service %(rating)s.") % {"rating": rating}]
    comment = _new(changes, "satisfaction_comment")
    if comment:
        sentences.append(_("Their comment: “%(comment)s”") % {"comment": comment})
    return sentences


def _sentences(event: TicketEvent, actor: str, reader: _Reader) -> list[str]:
    changes: Mapping[str, Any] = event.changes or {}
    kind = event.kind
    words = {"actor": actor}
    if kind == Kind.CREATED:
        channel = _new(changes, "channel")
        if channel:
            return [
                _("%(actor)s created the ticket (%(channel)s).")
                % {**words, "channel": reader.value("channel", channel)}
            ]
        return [_("%(actor)s created the ticket.") % words]
    if kind == Kind.REPLIED:
        return [_("%(actor)s replied to the customer.") % words]
    if kind == Kind.NOTED:
        return [_("%(actor)s added an internal note.") % words]
    if kind == Kind.CUSTOMER_REPLIED:
        return [_("The customer replied.")]
    if kind == Kind.ATTACHED:
        files = _new(changes, "files") or []
        return [_("%(actor)s attached %(files)s.") % {**words, "files": ", ".join(files)}]
    if kind in (Kind.LINKED, Kind.UNLINKED):
        link = _new(changes, "link") if kind == Kind.LINKED else _old(changes, "link")
        link = link if isinstance(link, Mapping) else {}
        template = (
            _("%(actor)s linked this ticket to %(number)s (%(kind)s).")
            if kind == Kind.LINKED
            else _("%(actor)s removed the link to %(number)s (%(kind)s).")
        )
        return [
            template
            % {**words, "number": link.get("number", "?"), "kind": _link_kind(link.get("kind"))}
        ]
    if kind == Kind.MERGED:
        into = _new(changes, "merged_into") or {}
        return [
            _("%(actor)s merged this ticket into %(number)s.")
            % {**words, "number": into.get("number", "?")}
        ]
    if kind == Kind.MERGED_IN:
        merged = _new(changes, "merged") or {}
        return [
            _("%(actor)s merged %(number)s into this ticket.")
            % {**words, "number": merged.get("number", "?")}
        ]
    if kind == Kind.SPLIT:
        other = _new(changes, "split") or {}
        return [
            _("%(actor)s split a message off into %(number)s.")
            % {**words, "number": other.get("number", "?")}
        ]
    if _new(changes, "by") == "customer" and kind in (Kind.REOPENED, Kind.STATUS_CHANGED):
        template = (
            _("The customer reopened the request: %(old)s → %(new)s.")
            if kind == Kind.REOPENED
            else _("The customer closed the request: %(old)s → %(new)s.")
        )
        return [
            template
            % {
                "old": reader.value("status", _old(changes, "status")),
                "new": reader.value("status", _new(changes, "status")),
            }
        ]
    if kind == Kind.SATISFACTION_RATED:
        return _rating_sentences(changes, actor if event.actor_id else "")
    if kind == Kind.REOPENED:
        return [
            _("The customer's reply reopened the ticket: %(old)s → %(new)s.")
            % {
                "old": reader.value("status", _old(changes, "status")),
                "new": reader.value("status", _new(changes, "status")),
            }
        ]
    if kind == Kind.AUTO_CLOSED:
        return [_("The ticket was closed automatically.")]
    sentences = []
    if kind == Kind.MACRO_APPLIED:
        macro = _new(changes, "macro")
        name = macro.get("name", "") if isinstance(macro, Mapping) else ""
        return [_("%(actor)s applied the macro %(name)s.") % {**words, "name": name}]
    for name, pair in changes.items():
        if not isinstance(pair, list) or len(pair) != 2:
            continue
        sentences.append(reader.change(actor, name, pair[0], pair[1]))
    return sentences or [_("%(actor)s changed the ticket.") % words]


def describe(events: Iterable[TicketEvent]) -> list[EventLine]:
    """Each event with its actor's name and one sentence per change, in the order given."""
    rows = list(events)
    reader = _Reader(rows)
    lines = []
    for event in rows:
        actor = str(event.actor) if event.actor is not None else _("System")
        lines.append(
            EventLine(event=event, actor=actor, sentences=_sentences(event, actor, reader))
        )
    return lines
