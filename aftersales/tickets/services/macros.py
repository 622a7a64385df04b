"""Use cases of macros: agents' canned responses that reply and change fields in one click.

A macro is personal (its owner sees, uses and edits it; ``tickets.add_macro``) or shared
(``tickets.share_macro``; used by everyone who works tickets of its business line, or of every
line). Only the owner edits a personal macro; a shared one is edited by whoever may share in its
business line, its owner included.

The message is a template with placeholders from an allowlist (:data:`PLACEHOLDERS`), filled in
by a small parser: a macro body is never compiled as a Django or Jinja template, so it cannot
reach anything the allowlist does not name, and every value is HTML-escaped. An unknown
placeholder is refused when the macro is saved, naming it.

The field changes (``actions``) are a list of ``{"field", "value"}``, checked when saved and
applied through :func:`~aftersales.tickets.services.tickets.update_ticket`, so a macro obeys
the same lifecycle as a person: a move to "solved" without a resolution code is refused with
that field named, and nothing of the macro is kept.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core import richtext
from aftersales.core.errors import DomainError, NotFound, PermissionDenied, PreconditionFailed
from aftersales.customers.services import clean_tags
from aftersales.customfields import registry
from aftersales.customfields import services as customfields
from aftersales.customfields.errors import InvalidValue
from aftersales.customfields.models import FieldDefinition
from aftersales.outbox import services as outbox
from aftersales.tickets import selectors
from aftersales.tickets.models import (
    Comment,
    Macro,
    Ticket,
    TicketEvent,
    TicketStatus,
    TicketType,
    form_key_of,
)
from aftersales.tickets.permissions import ADD_MACRO, SHARE_MACRO, VIEW_TICKET
from aftersales.tickets.services import conversation
from aftersales.tickets.services import tickets as ticket_services

__all__ = [
    "MACRO_ACTION_FIELDS",
    "PLACEHOLDERS",
    "ApplyResult",
    "apply_macro",
    "check_macro_body",
    "clean_macro_actions",
    "create_macro",
    "deactivate_macro",
    "may_edit_macro",
    "may_share_macro",
    "placeholder_help",
    "render_macro",
    "update_macro",
]

Action = AuditEntry.Action
MAX_NAME = 120
MAX_BODY = 20_000
MAX_ACTIONS = 20
CUSTOM_FIELD_PREFIX = "custom_fields."
_CUSTOM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_STATUS_KEY = re.compile(r"^[-a-zA-Z0-9_]{1,60}$")

# Built-in action fields; custom fields are ``custom_fields.<key>``.
MACRO_ACTION_FIELDS = ("priority", "status", "team", "assignee", "add_tags", "remove_tags")
EDITABLE = ("name", "body", "reply_kind", "actions", "is_shared", "business_line")


# --- Placeholders -----------------------------------------------------------------------------


class _Context:
    """What placeholders read: the ticket, the person applying, and who will read the text."""

    def __init__(self, *, ticket: Ticket, actor: Any, audience: customfields.Audience) -> None:
        self.ticket = ticket
        self.actor = actor
        self.audience: customfields.Audience = audience

    @cached_property
    def custom_fields(self) -> dict[str, str]:
        rows = customfields.render_values(
            ticket_services.TARGET,
            form_key_of(self.ticket.ticket_type_id),
            self.ticket.custom_fields,
            translation.get_language() or "en",
            audience=self.audience,
            versions=self.ticket.custom_field_versions,
        )
        return {row["key"]: str(row["display"]) for row in rows}


def _name(value: Any) -> str:
    return "" if value is None else str(getattr(value, "name", value))


PLACEHOLDERS: dict[str, tuple[str | Promise, Any]] = {
    "ticket.number": (_("The ticket's number"), lambda c: c.ticket.number),
    "ticket.subject": (_("The ticket's subject"), lambda c: c.ticket.subject),
    "ticket.status": (_("The ticket's status"), lambda c: _name(c.ticket.status)),
    "ticket.priority": (_("The ticket's priority"), lambda c: c.ticket.get_priority_display()),
    "ticket.type": (_("The ticket's type"), lambda c: _name(c.ticket.ticket_type)),
    "ticket.team": (_("The ticket's team"), lambda c: _name(c.ticket.team)),
    "ticket.assignee": (
        _("The agent the ticket is assigned to"),
        lambda c: "" if c.ticket.assignee is None else str(c.ticket.assignee),
    ),
    "customer.name": (_("The requester's name"), lambda c: c.ticket.requester.name),
    "organisation.name": (
        _("The requester's organisation"),
        lambda c: _name(c.ticket.organisation),
    ),
    "agent.name": (_("Your name"), lambda c: str(c.actor) if c.actor is not None else ""),
    "agent.email": (
        _("Your e-mail address"),
        lambda c: getattr(c.actor, "email", "") or "",
    ),
}
CUSTOM_PLACEHOLDER_PREFIX = "ticket.custom_fields."

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def placeholder_help() -> list[dict[str, str]]:
    """The placeholders a message may use, with what each stands for (in the request's
    language), for the pages and the API."""
    rows = [
        {"placeholder": "{{ " + name + " }}", "label": str(label)}
        for name, (label, _value) in PLACEHOLDERS.items()
    ]
    rows.append(
        {
            "placeholder": "{{ " + CUSTOM_PLACEHOLDER_PREFIX + "<key> }}",
            "label": str(_("A custom field of the ticket, as shown on its page")),
        }
    )
    return rows


def _placeholders_in(body: str) -> list[str]:
    """The names written as ``{{ name }}`` in ``body``, in order; a ``{{`` never closed by
    ``}}`` is refused."""
    names = [match.group(1).strip() for match in _PLACEHOLDER.finditer(body)]
    if "{{" in _PLACEHOLDER.sub("", body):
        raise DomainError(
            "placeholder_unclosed",
            field="body",
            message=_("A placeholder opened with {{ is not closed with }}."),
        )
    return names


def check_macro_body(body: Any, *, reply_kind: str = Macro.ReplyKind.PUBLIC) -> str:
    """The message template, trimmed; refuses unknown placeholders (naming the first one) and
    custom fields a public reply must not show to the customer."""
    if body is None:
        return ""
    if not isinstance(body, str):
        raise DomainError("invalid", field="body", message=_("Enter text."))
    body = body.strip()
    if len(body) > MAX_BODY:
        raise DomainError(
            "too_long",
            field="body",
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": MAX_BODY},
        )
    for name in _placeholders_in(body):
        if name in PLACEHOLDERS:
            continue
        key = name.removeprefix(CUSTOM_PLACEHOLDER_PREFIX)
        if name.startswith(CUSTOM_PLACEHOLDER_PREFIX) and _CUSTOM_KEY.fullmatch(key):
            definitions = list(
                FieldDefinition.objects.filter(
                    target=ticket_services.TARGET, key=key, is_active=True
                )
            )
            if definitions:
                if reply_kind == Macro.ReplyKind.PUBLIC and not any(
                    d.customer_visible for d in definitions
                ):
                    raise DomainError(
                        "placeholder_not_public",
                        field="body",
                        message=_(
                            "The placeholder {{ %(placeholder)s }} shows a field customers "
                            "do not see; use it in internal notes only."
                        ),
                        params={"placeholder": name},
                    )
                continue
        raise DomainError(
            "unknown_placeholder",
            field="body",
            message=_("Unknown placeholder {{ %(placeholder)s }}."),
            params={"placeholder": name},
        )
    return body


def _value_of(name: str, context: _Context) -> str | None:
    known = PLACEHOLDERS.get(name)
    if known is not None:
        return str(known[1](context))
    if name.startswith(CUSTOM_PLACEHOLDER_PREFIX):
        key = name.removeprefix(CUSTOM_PLACEHOLDER_PREFIX)
        if _CUSTOM_KEY.fullmatch(key):
            return context.custom_fields.get(key, "")
    return None


def render_macro(*, macro: Macro, ticket: Ticket, actor: Any) -> str:
    """The macro's message for ``ticket`` as sanitised HTML, ready for the conversation.

    The body becomes markup first (plain text is escaped, HTML sanitised); then each allowlisted
    placeholder is replaced once by its HTML-escaped value (a value is never read as a
    placeholder itself); anything else between braces stays as written. A public reply shows
    only the custom fields customers may see. Callers fetch ``ticket`` through
    :func:`~aftersales.tickets.selectors.tickets_visible_to`.
    """
    audience: customfields.Audience = (
        "customer" if macro.reply_kind == Macro.ReplyKind.PUBLIC else "staff"
    )
    return render_text(macro.body, ticket=ticket, actor=actor, audience=audience)


def render_text(body: str, *, ticket: Ticket, actor: Any, audience: customfields.Audience) -> str:
    """A message template (checked by :func:`check_macro_body`) filled in for ``ticket``, as
    sanitised HTML; ``audience`` decides which custom fields placeholders may show."""
    if not body.strip():
        return ""
    context = _Context(ticket=ticket, actor=actor, audience=audience)

    def substitute(match: re.Match[str]) -> str:
        value = _value_of(match.group(1).strip(), context)
        return match.group(0) if value is None else html.escape(value)

    markup = richtext.clean_input(body)
    # Sanitised again: a value placed in an attribute (a link's href) must not survive as
    # something the sanitiser would have refused.
    return richtext.sanitise(_PLACEHOLDER.sub(substitute, markup))


# --- Field changes ------------------------------------------------------------------------------


def _action_error(index: int, part: str, code: str, message: str | Promise, **params: Any) -> Any:
    raise DomainError(code, field=f"actions.{index}.{part}", message=message, params=params or None)


def _check_priority(index: int, value: Any) -> str:
    if isinstance(value, str) and value in ticket_services.PRIORITY_BY_KEY:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value in Ticket.Priority.values:
        return ticket_services.PRIORITY_KEYS[value]
    return _action_error(
        index, "value", "invalid_choice", _("Choose one of: low, normal, high, urgent.")
    )


def _check_status(index: int, value: Any, line: BusinessLine | None) -> str:
    if not isinstance(value, str) or not _STATUS_KEY.fullmatch(value):
        return _action_error(index, "value", "invalid", _("Enter the key of a status."))
    statuses = TicketStatus.objects.filter(key=value, is_active=True, ticket_type__is_active=True)
    if line is not None:
        statuses = statuses.filter(ticket_type__business_line=line)
    if not statuses.exists():
        return _action_error(
            index,
            "value",
            "unknown_status",
            _("No active ticket type has a status with the key %(key)s."),
            key=value,
        )
    return value


def _check_team(index: int, value: Any, line: BusinessLine | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        return _action_error(index, "value", "invalid", _("Enter the id of a team."))
    team = Team.objects.filter(pk=value, is_active=True).first()
    if team is None:
        return _action_error(index, "value", "invalid", _("Choose an active team."))
    if line is not None and team.business_line_id != line.pk:
        return _action_error(
            index,
            "value",
            "team_of_other_line",
            _("Choose a team of the macro's business line."),
        )
    return value


def _check_assignee(index: int, value: Any) -> int | str | None:
    if value is None or value == "me":
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        return _action_error(
            index, "value", "invalid", _('Enter "me", the id of a staff member, or null.')
        )
    if not User.objects.filter(pk=value, is_active=True, kind=User.Kind.STAFF).exists():
        return _action_error(index, "value", "invalid", _("Choose an active staff member."))
    return value


def _check_custom_field(index: int, key: str, value: Any) -> Any:
    if not _CUSTOM_KEY.fullmatch(key):
        return _action_error(index, "field", "unknown_field", _("There is no such ticket field."))
    definitions = list(
        FieldDefinition.objects.filter(target=ticket_services.TARGET, key=key, is_active=True)
    )
    if not definitions:
        return _action_error(index, "field", "unknown_field", _("There is no such ticket field."))
    if registry.is_empty(value):
        return None
    # Types may define the same key differently; the value must fit one of them. The ticket's
    # own form checks it again when the macro is applied.
    problem: InvalidValue | None = None
    for definition in definitions:
        try:
            return definition.handler.clean(value, definition.parsed_config)
        except InvalidValue as error:
            problem = problem or error
        except registry.ConfigError:
            continue
    if problem is None:
        return _action_error(index, "value", "invalid", _("Enter a valid value."))
    raise DomainError(
        problem.code, field=f"actions.{index}.value", message=problem.message, params=problem.params
    )


def clean_macro_actions(actions: Any, *, business_line: BusinessLine | None = None) -> list[Any]:
    """The field changes in canonical form, each checked; a refusal names
    ``actions.<index>.field`` or ``actions.<index>.value``."""
    if actions is None:
        return []
    if not isinstance(actions, list | tuple):
        raise DomainError("invalid", field="actions", message=_("Enter a list of changes."))
    if len(actions) > MAX_ACTIONS:
        raise DomainError(
            "too_many_actions",
            field="actions",
            message=_("Enter at most %(count)s changes."),
            params={"count": MAX_ACTIONS},
        )
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, action in enumerate(actions):
        if not isinstance(action, Mapping) or set(action) != {"field", "value"}:
            raise DomainError(
                "invalid",
                field=f"actions.{index}",
                message=_('Enter a change as {"field": …, "value": …}.'),
            )
        name, value = action["field"], action["value"]
        if not isinstance(name, str) or not (
            name in MACRO_ACTION_FIELDS or name.startswith(CUSTOM_FIELD_PREFIX)
        ):
            _action_error(index, "field", "unknown_field", _("A macro cannot change this."))
        if name in seen:
            _action_error(index, "field", "duplicate", _("Change each field at most once."))
        seen.add(name)
        if name == "priority":
            value = _check_priority(index, value)
        elif name == "status":
            value = _check_status(index, value, business_line)
        elif name == "team":
            value = _check_team(index, value, business_line)
        elif name == "assignee":
            value = _check_assignee(index, value)
        elif name in {"add_tags", "remove_tags"}:
            value = clean_tags(value, f"actions.{index}.value")
            if not value:
                _action_error(index, "value", "required", _("Enter at least one tag."))
        else:
            value = _check_custom_field(index, name.removeprefix(CUSTOM_FIELD_PREFIX), value)
        cleaned.append({"field": name, "value": value})
    return cleaned


# --- Managing macros ----------------------------------------------------------------------------


def may_share_macro(actor: Any, business_line_id: int | None) -> bool:
    """Whether ``actor`` may share a macro with the line (``None``: every line)."""
    scope = authz.scope_for(actor, SHARE_MACRO)
    if scope is None:
        return False
    if scope == authz.Scope.ALL:
        return True
    return business_line_id is not None and business_line_id in authz.business_line_ids(actor)


def may_edit_macro(actor: Any, macro: Macro) -> bool:
    """Personal: its owner, while holding ``add_macro``. Shared: whoever may share in its line."""
    if macro.is_shared:
        return may_share_macro(actor, macro.business_line_id)
    return macro.owner_id == actor.pk and authz.has_permission(actor, ADD_MACRO)


def _require_editor(actor: Any, macro: Macro) -> None:
    if not macro.is_shared and macro.owner_id != getattr(actor, "pk", None):
        raise NotFound("not_found")  # another person's personal macro does not exist for you
    if macro.is_shared and not selectors.macros_usable_by(actor).filter(pk=macro.pk).exists():
        raise NotFound("not_found")
    if not may_edit_macro(actor, macro):
        raise PermissionDenied(
            "permission_denied",
            params={"permission": SHARE_MACRO if macro.is_shared else ADD_MACRO},
        )


def _check_sharing(actor: Any, is_shared: bool, line: BusinessLine | None) -> None:
    if not is_shared:
        if line is not None:
            raise DomainError(
                "business_line_needs_sharing",
                field="business_line",
                message=_("Only a shared macro is limited to a business line."),
            )
        return
    if authz.scope_for(actor, SHARE_MACRO) is None:
        raise PermissionDenied(
            "permission_denied", field="is_shared", params={"permission": SHARE_MACRO}
        )
    if not may_share_macro(actor, line.pk if line is not None else None):
        raise PermissionDenied(
            "business_line_out_of_scope",
            field="business_line",
            message=_("You may share macros only with your own business lines."),
        )


def _clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    value = " ".join(value.split())
    if len(value) > MAX_NAME:
        raise DomainError(
            "too_long",
            field="name",
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": MAX_NAME},
        )
    return value


def _clean_reply_kind(value: Any) -> str:
    if value not in Macro.ReplyKind.values:
        raise DomainError(
            "invalid_choice",
            field="reply_kind",
            message=_("Choose one of: %(values)s."),
            params={"values": ", ".join(Macro.ReplyKind.values)},
        )
    return str(value)


def _clean_line(value: Any) -> BusinessLine | None:
    if value is None:
        return None
    if not isinstance(value, BusinessLine) or not value.is_active:
        raise DomainError(
            "invalid", field="business_line", message=_("Choose an active business line.")
        )
    return value


def _validate(macro: Macro) -> None:
    macro.name = _clean_name(macro.name)
    macro.reply_kind = _clean_reply_kind(macro.reply_kind)
    macro.body = check_macro_body(macro.body, reply_kind=macro.reply_kind)
    macro.actions = clean_macro_actions(macro.actions, business_line=macro.business_line)
    if not macro.body and not macro.actions:
        raise DomainError(
            "macro_empty",
            field="body",
            message=_("Write a message or choose at least one field change."),
        )


def _payload(macro: Macro, **extra: Any) -> dict[str, Any]:
    return {
        "macro_id": macro.pk,
        "name": macro.name,
        "owner_id": macro.owner_id,
        "is_shared": macro.is_shared,
        "business_line_id": macro.business_line_id,
        **extra,
    }


@transaction.atomic
def create_macro(
    *,
    actor: Any,
    name: Any,
    body: Any = "",
    reply_kind: Any = Macro.ReplyKind.PUBLIC,
    actions: Any = (),
    is_shared: bool = False,
    business_line: BusinessLine | None = None,
) -> Macro:
    """Keep a new macro for the actor (personal), or for everyone (shared, optionally limited
    to one business line)."""
    authz.require_permission(actor, ADD_MACRO)
    line = _clean_line(business_line)
    _check_sharing(actor, bool(is_shared), line)
    macro = Macro(
        name=name,
        owner=actor,
        is_shared=bool(is_shared),
        business_line=line,
        reply_kind=reply_kind,
        body=body,
        actions=list(actions) if isinstance(actions, list | tuple) else actions,
    )
    _validate(macro)
    macro.save(force_insert=True)
    audit.record(actor=actor, action=Action.CREATED, obj=macro, after=audit.snapshot(macro))
    outbox.emit("macro.created", macro, actor=actor, payload=_payload(macro))
    return macro


@transaction.atomic
def update_macro(
    *,
    actor: Any,
    macro: Macro,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> Macro:
    """Change a macro (keys of ``EDITABLE``). Un-sharing a macro limited to a line also lifts
    the limit; sharing, or moving it to another line, needs the right to share there."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise DomainError(
            "unknown_field", field=unknown[0], message=_("This field cannot be changed.")
        )
    macro = Macro.objects.select_for_update().get(pk=macro.pk)
    _require_editor(actor, macro)
    if not macro.is_active:
        raise NotFound("not_found")
    if expected_version is not None and macro.version != expected_version:
        raise PreconditionFailed(
            "version_mismatch",
            field="If-Match",
            message=_("Someone changed this macro since you opened it. Reload and try again."),
        )
    before = audit.snapshot(macro)
    if "name" in changes:
        macro.name = changes["name"]
    if "body" in changes:
        macro.body = changes["body"]
    if "reply_kind" in changes:
        macro.reply_kind = changes["reply_kind"]
    if "actions" in changes:
        macro.actions = changes["actions"]
    is_shared = bool(changes.get("is_shared", macro.is_shared))
    if "business_line" in changes:
        line = _clean_line(changes["business_line"])
    else:
        line = macro.business_line if is_shared else None
    if is_shared != macro.is_shared or line != macro.business_line:
        _check_sharing(actor, is_shared, line)
    macro.is_shared = is_shared
    macro.business_line = line
    _validate(macro)
    after = audit.snapshot(macro)
    changed = [name for name in after if before.get(name) != after.get(name)]
    if not changed:
        return macro
    macro.version += 1
    macro.save(update_fields=[*changed, "version", "updated_at"])
    audit.record_change(actor=actor, obj=macro, before=before)
    outbox.emit("macro.updated", macro, actor=actor, payload=_payload(macro, fields=changed))
    return macro


@transaction.atomic
def deactivate_macro(*, actor: Any, macro: Macro) -> Macro:
    """Retire a macro: nobody sees or applies it any more; tickets keep what it did."""
    macro = Macro.objects.select_for_update().get(pk=macro.pk)
    _require_editor(actor, macro)
    if not macro.is_active:
        return macro
    before = audit.snapshot(macro)
    macro.is_active = False
    macro.version += 1
    macro.save(update_fields=["is_active", "version", "updated_at"])
    audit.record_change(actor=actor, obj=macro, before=before, verb="deactivated")
    outbox.emit("macro.deactivated", macro, actor=actor, payload=_payload(macro))
    return macro


# --- Applying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyResult:
    """What applying a macro did: the ticket as it is now, the message added (if any) and the
    ticket fields that changed (``custom_fields.<key>`` for custom fields)."""

    ticket: Ticket
    comment: Comment | None
    changed: list[str] = field(default_factory=list)


def _status_by_key(ticket_type: TicketType, key: str) -> TicketStatus:
    status = TicketStatus.objects.filter(ticket_type=ticket_type, key=key, is_active=True).first()
    if status is None:
        raise DomainError(
            "unknown_status",
            field="status",
            message=_("Tickets of type %(type)s have no status %(key)s."),
            params={"type": ticket_type.name, "key": key},
        )
    return status


def _ticket_changes(macro: Macro, ticket: Ticket, actor: Any) -> dict[str, Any]:
    """The macro's actions as an ``update_ticket`` change, resolved against this ticket."""
    changes: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for action in macro.actions:
        name, value = action["field"], action["value"]
        if name == "priority":
            changes["priority"] = value
        elif name == "status":
            changes["status"] = _status_by_key(ticket.ticket_type, value)
        elif name == "team":
            team = None if value is None else Team.objects.filter(pk=value).first()
            if value is not None and team is None:
                raise DomainError("invalid", field="team", message=_("Choose an active team."))
            changes["team"] = team
        elif name == "assignee":
            person = actor if value == "me" else None
            if isinstance(value, int):
                person = User.objects.filter(pk=value).first()
                if person is None:
                    raise DomainError(
                        "invalid", field="assignee", message=_("Choose an active staff member.")
                    )
            changes["assignee"] = person
        elif name in {"add_tags", "remove_tags"}:
            changes[name] = list(value)
        else:
            custom[name.removeprefix(CUSTOM_FIELD_PREFIX)] = value
    if custom:
        changes["custom_fields"] = custom
    return changes


@transaction.atomic
def apply_macro(
    *, actor: Any, ticket: Ticket, macro: Macro, expected_version: int | None = None
) -> ApplyResult:
    """Apply the macro's field changes and add its message to ``ticket``, all or nothing.

    The changes go through ``update_ticket`` (permission, lifecycle, required fields, custom
    field checks); the message through ``add_comment`` (a public reply needs
    ``tickets.reply_ticket``, a note ``tickets.add_note``). The timeline gets a
    ``macro_applied`` entry, the macro's ``usage_count`` grows by one, and ``macro.applied``
    is emitted. ``expected_version`` refuses the macro on a ticket changed since it was read.
    """
    authz.require_permission(actor, VIEW_TICKET, ticket)
    if not selectors.macros_usable_by(actor).filter(pk=macro.pk).exists():
        raise NotFound("not_found", field="macro")
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    ticket_services.check_version(locked, expected_version)
    if macro.business_line_id is not None and macro.business_line_id != locked.business_line_id:
        raise DomainError(
            "macro_of_other_line",
            field="macro",
            message=_("This macro is meant for tickets of another business line."),
        )
    changes = _ticket_changes(macro, locked, actor)
    version = locked.version
    changed: list[str] = []
    if changes:
        locked = ticket_services.update_ticket(
            actor=actor, ticket=locked, changes=changes, expected_version=expected_version
        )
        if locked.version != version:
            event = TicketEvent.objects.filter(ticket=locked).order_by("-pk").first()
            changed = sorted(event.changes) if event is not None else []
    current = Ticket.objects.select_related(
        "ticket_type", "status", "requester", "organisation", "team", "assignee"
    ).get(pk=locked.pk)
    comment = None
    text = render_macro(macro=macro, ticket=current, actor=actor)
    if text:
        comment = conversation.add_comment(
            actor=actor,
            ticket=current,
            body=text,
            is_public=macro.reply_kind == Macro.ReplyKind.PUBLIC,
        )
    Macro.objects.filter(pk=macro.pk).update(usage_count=F("usage_count") + 1)
    TicketEvent.objects.create(
        ticket=current,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        kind=TicketEvent.Kind.MACRO_APPLIED,
        changes={"macro": [None, {"id": macro.pk, "name": macro.name}]},
        comment=comment,
    )
    outbox.emit(
        "macro.applied",
        macro,
        actor=actor,
        payload=ticket_services.event_payload(
            current,
            macro_id=macro.pk,
            comment_id=comment.pk if comment is not None else None,
            changed=changed,
        ),
    )
    current.refresh_from_db()
    return ApplyResult(ticket=current, comment=comment, changed=changed)
