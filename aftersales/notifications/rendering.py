"""Filling a template's ``{{ placeholder }}`` names in, in a sandbox.

The ticket placeholders are the macros' allowlist
(:data:`aftersales.tickets.services.macros.PLACEHOLDERS`), so a template can name exactly what
a macro can, plus a few that only make sense in a notification. A template is never compiled by
Django's or any other template engine: one regular-expression pass replaces each allowlisted
name by its value, and a value is never read again (customer text that looks like a
placeholder stays text). Unknown names are refused when a template is saved.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from aftersales.core.errors import DomainError
from aftersales.customfields import services as customfields
from aftersales.customfields.models import FieldDefinition
from aftersales.tickets.models import Ticket, form_key_of
from aftersales.tickets.services import macros
from aftersales.tickets.services import tickets as ticket_services

MAX_SUBJECT = 300
MAX_BODY = 10_000
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_CUSTOM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CUSTOM_PREFIX = macros.CUSTOM_PLACEHOLDER_PREFIX


@dataclass
class Context:
    """What placeholders read. ``audience`` is who reads the text ("customer" or "staff")."""

    ticket: Ticket | None
    actor: Any
    recipient_name: str
    audience: customfields.Audience
    extra: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def custom_fields(self) -> dict[str, str]:
        if self.ticket is None:
            return {}
        rows = customfields.render_values(
            ticket_services.TARGET,
            form_key_of(self.ticket.ticket_type_id),
            self.ticket.custom_fields,
            translation.get_language() or "en",
            audience=self.audience,
            versions=self.ticket.custom_field_versions,
        )
        return {row["key"]: str(row["display"]) for row in rows}


Value = Callable[[Context], Any]


def _ticket_value(name: str) -> Value:
    function = macros.PLACEHOLDERS[name][1]
    return lambda c: "" if c.ticket is None else function(c)


def _absolute(path: str) -> str:
    base = getattr(settings, "AFTERSALES_BASE_URL", None) or os.environ.get(
        "AFTERSALES_BASE_URL", ""
    )
    return base.rstrip("/") + path


def _ticket_url(context: Context) -> str:
    if context.ticket is None:
        return ""
    return _absolute(reverse("tickets:ticket_detail", args=[context.ticket.number]))


def _request_url(context: Context) -> str:
    if context.ticket is None:
        return ""
    return _absolute(reverse("portal:request_detail", args=[context.ticket.number]))


_TICKET_NAMES = (
    "ticket.number",
    "ticket.subject",
    "ticket.status",
    "ticket.priority",
    "ticket.type",
    "ticket.team",
    "ticket.assignee",
    "customer.name",
    "organisation.name",
)

# name → (label, value, may customers read it)
PLACEHOLDERS: dict[str, tuple[str | Promise, Value, bool]] = {
    **{
        name: (
            macros.PLACEHOLDERS[name][0],
            _ticket_value(name),
            name not in ("ticket.priority", "ticket.team", "ticket.assignee"),
        )
        for name in _TICKET_NAMES
    },
    "ticket.url": (_("The link to the ticket in the workspace"), _ticket_url, False),
    "request.url": (_("The link to the request on the customer portal"), _request_url, True),
    "recipient.name": (_("The recipient's name"), lambda c: c.recipient_name, True),
    "actor.name": (
        _("The person who caused the notification"),
        lambda c: "" if c.actor is None else str(c.actor),
        True,
    ),
    "comment.excerpt": (
        _("The beginning of the comment the notification is about"),
        lambda c: c.extra.get("comment.excerpt", ""),
        True,
    ),
    "comment.text": (
        _("The whole text of the comment the notification is about"),
        lambda c: c.extra.get("comment.text", "") or c.extra.get("comment.excerpt", ""),
        True,
    ),
    "sla.due_at": (
        _("When the SLA target falls due"),
        lambda c: c.extra.get("sla.due_at", ""),
        False,
    ),
    "survey.url": (
        _("The link to the satisfaction survey"),
        lambda c: c.extra.get("survey.url", ""),
        True,
    ),
    "reason": (
        _("Why the notification was sent"),
        lambda c: c.extra.get("reason", ""),
        False,
    ),
}


def placeholder_help(*, for_customers: bool = False) -> list[dict[str, str]]:
    """The placeholders a template may use, labelled in the active language."""
    rows = [
        {"placeholder": "{{ " + name + " }}", "label": str(label)}
        for name, (label, _value, public) in PLACEHOLDERS.items()
        if public or not for_customers
    ]
    rows.append(
        {
            "placeholder": "{{ " + CUSTOM_PREFIX + "<key> }}",
            "label": str(_("A custom field of the ticket, as shown on its page")),
        }
    )
    return rows


def names_in(text: str, *, field: str) -> list[str]:
    """The names written as ``{{ name }}``; a ``{{`` never closed is refused."""
    names = [match.group(1).strip() for match in _PLACEHOLDER.finditer(text)]
    if "{{" in _PLACEHOLDER.sub("", text):
        raise DomainError(
            "placeholder_unclosed",
            field=field,
            message=_("A placeholder opened with {{ is not closed with }}."),
        )
    return names


def check_text(text: str, *, field: str, for_customers: bool) -> None:
    """Refuse unknown placeholders, and those customers may not read in a customer template."""
    for name in names_in(text, field=field):
        known = PLACEHOLDERS.get(name)
        if known is not None:
            if for_customers and not known[2]:
                raise _not_public(name, field)
            continue
        key = name.removeprefix(CUSTOM_PREFIX)
        if name.startswith(CUSTOM_PREFIX) and _CUSTOM_KEY.fullmatch(key):
            definitions = list(
                FieldDefinition.objects.filter(
                    target=ticket_services.TARGET, key=key, is_active=True
                )
            )
            if definitions:
                if for_customers and not any(d.customer_visible for d in definitions):
                    raise _not_public(name, field)
                continue
        raise DomainError(
            "unknown_placeholder",
            field=field,
            message=_("Unknown placeholder {{ %(placeholder)s }}."),
            params={"placeholder": name},
        )


def _not_public(name: str, field: str) -> DomainError:
    return DomainError(
        "placeholder_not_public",
        field=field,
        message=_(
            "The placeholder {{ %(placeholder)s }} shows something customers do not see; "
            "a template for customers cannot use it."
        ),
        params={"placeholder": name},
    )


def _value_of(name: str, context: Context) -> str | None:
    known = PLACEHOLDERS.get(name)
    if known is not None:
        if context.audience == "customer" and not known[2]:
            return ""
        return str(known[1](context))
    key = name.removeprefix(CUSTOM_PREFIX)
    if name.startswith(CUSTOM_PREFIX) and _CUSTOM_KEY.fullmatch(key):
        return context.custom_fields.get(key, "")
    return None


def render(text: str, context: Context) -> str:
    """``text`` with each allowlisted placeholder replaced once by its plain-text value.

    Call inside ``translation.override(recipient's language)``: statuses, priorities and
    custom-field options read the active language.
    """

    def substitute(match: re.Match[str]) -> str:
        value = _value_of(match.group(1).strip(), context)
        return match.group(0) if value is None else value

    return _PLACEHOLDER.sub(substitute, text)
