"""What a rule or automation can do to a ticket: checked when saved, applied or planned later.

An action is a small JSON object, ``{"type": "assign_team", "team": 7}``. :func:`clean_actions`
checks a list of them against the database when a rule is saved (every problem names its
place, ``actions.2.team``). :func:`apply_all` does them in order, each in its own savepoint, so
one that fails (a status the ticket's lifecycle does not allow, say) is logged and the others
still happen. :func:`plan_all` says what they would do without doing anything: the dry run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from aftersales.core.errors import DomainError
from aftersales.customfields.services import Audience

logger = logging.getLogger(__name__)

MAX_ACTIONS = 20
MAX_TEXT = 10_000


@dataclass(frozen=True)
class Kind:
    key: str
    label: Any
    params: tuple[str, ...]


KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        Kind("set_priority", _("Set priority"), ("priority",)),
        Kind("set_status", _("Set status"), ("status",)),
        Kind("set_type", _("Set type"), ("ticket_type",)),
        Kind("add_tags", _("Add tags"), ("tags",)),
        Kind("remove_tags", _("Remove tags"), ("tags",)),
        Kind("set_field", _("Set a field"), ("key", "value")),
        Kind("assign_team", _("Assign to a team"), ("team",)),
        Kind("assign_user", _("Assign to a person"), ("user",)),
        Kind("add_follower", _("Add a follower"), ("user",)),
        Kind("reply", _("Reply to the customer"), ("body",)),
        Kind("note", _("Add an internal note"), ("body",)),
        Kind("notify", _("Notify people"), ("audiences", "template")),
        Kind("raise_event", _("Raise an event for webhooks"), ("name",)),
        Kind("create_child", _("Create a child ticket"), ("subject", "ticket_type")),
        Kind("escalate", _("Escalate"), ()),
        Kind("require_skills", _("Require skills"), ("skills",)),
    )
}


def _error(index: int, part: str, code: str, message: Any, **params: Any) -> DomainError:
    return DomainError(code, field=f"actions.{index}.{part}", message=message, params=params)


def _pk(index: int, part: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise _error(index, part, "invalid", _("Choose one from the list."))
    return int(value)


def _text(index: int, part: str, value: Any, *, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(index, part, "required", _("This field is required."))
    if len(value) > limit:
        raise _error(index, part, "too_long", _("Keep it under %(max)s characters."), max=limit)
    return value.strip()


def _in_lines(obj: Any, line_ids: set[int], index: int, part: str) -> None:
    line_id = getattr(obj, "business_line_id", None)
    if line_ids and line_id is not None and line_id not in line_ids:
        raise _error(
            index, part, "other_line", _("This belongs to a business line the rule does not cover.")
        )


def _clean_one(index: int, action: Any, line_ids: set[int]) -> dict[str, Any]:
    from aftersales.accounts.models import Team, User
    from aftersales.customers.services import clean_tags
    from aftersales.tickets.models import TicketStatus, TicketType
    from aftersales.tickets.services.macros import check_macro_body
    from aftersales.tickets.services.tickets import PRIORITY_BY_KEY

    if not isinstance(action, dict) or action.get("type") not in KINDS:
        raise _error(index, "type", "invalid_action", _("Choose what the action does."))
    kind = action["type"]
    unknown = set(action) - {"type", *KINDS[kind].params}
    if unknown:
        raise _error(
            index, sorted(unknown)[0], "unknown_parameter", _("Not a setting of this action.")
        )
    clean: dict[str, Any] = {"type": kind}
    if kind == "set_priority":
        if action.get("priority") not in PRIORITY_BY_KEY:
            raise _error(index, "priority", "invalid_choice", _("Choose a priority."))
        clean["priority"] = action["priority"]
    elif kind == "set_status":
        status = TicketStatus.objects.filter(pk=_pk(index, "status", action.get("status"))).first()
        if status is None or not status.is_active:
            raise _error(index, "status", "invalid_choice", _("Choose an active status."))
        _in_lines(status.ticket_type, line_ids, index, "status")
        clean["status"] = status.pk
    elif kind in {"set_type", "create_child"} and (kind == "set_type" or action.get("ticket_type")):
        ticket_type = TicketType.objects.filter(
            pk=_pk(index, "ticket_type", action.get("ticket_type")), is_active=True
        ).first()
        if ticket_type is None:
            raise _error(index, "ticket_type", "invalid_choice", _("Choose an active ticket type."))
        _in_lines(ticket_type, line_ids, index, "ticket_type")
        clean["ticket_type"] = ticket_type.pk
    if kind in {"add_tags", "remove_tags"}:
        tags = action.get("tags")
        if not isinstance(tags, list) or not tags:
            raise _error(index, "tags", "required", _("Name at least one tag."))
        try:
            clean["tags"] = clean_tags(tags)
        except DomainError as error:
            raise _error(index, "tags", error.code, error.message, **error.params) from None
    elif kind == "set_field":
        key = action.get("key")
        if not isinstance(key, str) or not key:
            raise _error(index, "key", "required", _("Choose a field."))
        clean["key"] = key
        clean["value"] = action.get("value")
    elif kind == "assign_team":
        team = Team.objects.filter(
            pk=_pk(index, "team", action.get("team")), is_active=True
        ).first()
        if team is None:
            raise _error(index, "team", "invalid_choice", _("Choose an active team."))
        _in_lines(team, line_ids, index, "team")
        clean["team"] = team.pk
    elif kind in {"assign_user", "add_follower"}:
        user = User.objects.filter(
            pk=_pk(index, "user", action.get("user")), is_active=True, kind=User.Kind.STAFF
        ).first()
        if user is None:
            raise _error(index, "user", "invalid_choice", _("Choose an active staff member."))
        clean["user"] = user.pk
    elif kind in {"reply", "note"}:
        body = _text(index, "body", action.get("body"))
        try:
            clean["body"] = check_macro_body(
                body, reply_kind="public" if kind == "reply" else "internal"
            )
        except DomainError as error:
            raise _error(index, "body", error.code, error.message, **error.params) from None
    elif kind == "notify":
        clean.update(_clean_notify(index, action))
    elif kind == "raise_event":
        name = _text(index, "name", action.get("name"), limit=60)
        if not name.replace("_", "").replace("-", "").isalnum() or not name.isascii():
            raise _error(index, "name", "invalid", _("Use letters, digits, - and _ only."))
        clean["name"] = name
    elif kind == "create_child":
        clean["subject"] = _text(index, "subject", action.get("subject"), limit=200)
    elif kind == "require_skills":
        clean["skills"] = _clean_skills(index, action.get("skills"))
    return clean


def _clean_notify(index: int, action: dict[str, Any]) -> dict[str, Any]:
    from aftersales.notifications.models import NotificationTemplate
    from aftersales.notifications.services import AUDIENCES, check_notify

    audiences = action.get("audiences")
    if not isinstance(audiences, list) or not audiences:
        raise _error(index, "audiences", "required", _("Choose who is told."))
    for audience in audiences:
        named = (
            isinstance(audience, str) and audience.startswith("user:") and audience[5:].isdigit()
        )
        if audience not in AUDIENCES and not named:
            raise _error(index, "audiences", "invalid_choice", _("Choose who is told."))
    template = NotificationTemplate.objects.filter(
        pk=_pk(index, "template", action.get("template"))
    ).first()
    if template is None:
        raise _error(index, "template", "invalid_choice", _("Choose a notification template."))
    try:
        check_notify(audiences=audiences, template=template)
    except DomainError as error:
        part = error.field if error.field in {"audiences", "template"} else "template"
        raise _error(index, part, error.code, error.message, **error.params) from None
    return {"audiences": list(dict.fromkeys(audiences)), "template": template.pk}


def _clean_skills(index: int, value: Any) -> list[int]:
    from aftersales.routing.models import Skill

    if not isinstance(value, list) or not value:
        raise _error(index, "skills", "required", _("Choose at least one skill."))
    ids = sorted({_pk(index, "skills", item) for item in value})
    if Skill.objects.filter(pk__in=ids).count() != len(ids):
        raise _error(index, "skills", "invalid_choice", _("Choose skills from the list."))
    return ids


def clean_actions(actions: Any, *, line_ids: set[int]) -> list[dict[str, Any]]:
    """The actions, checked and in canonical form; :class:`DomainError` names the first problem."""
    if not isinstance(actions, list) or not actions:
        raise DomainError("required", field="actions", message=_("Add at least one action."))
    if len(actions) > MAX_ACTIONS:
        raise DomainError(
            "too_many",
            field="actions",
            message=_("Use at most %(max)s actions."),
            params={"max": MAX_ACTIONS},
        )
    return [_clean_one(index, action, line_ids) for index, action in enumerate(actions)]


# --- Doing ---------------------------------------------------------------------------------------


def _step(action: dict[str, Any], ok: bool, detail: Any = "") -> dict[str, Any]:
    # The detail is kept in the installation's language: the log outlives the request.
    with translation.override(settings.LANGUAGE_CODE):
        text = str(detail)
    return {"action": action["type"], "ok": ok, "detail": text}


def _fresh(ticket: Any) -> Any:
    from aftersales.tickets.models import Ticket

    return Ticket.objects.select_related("ticket_type", "team", "requester").get(pk=ticket.pk)


def _update(ticket: Any, changes: dict[str, Any]) -> Any:
    from aftersales.tickets.services.tickets import update_ticket

    return update_ticket(actor=None, ticket=ticket, changes=changes)


def _do(action: dict[str, Any], ticket: Any, source: str) -> Any:
    """Do one action; returns what the log says about it."""
    from aftersales.accounts.models import Team, User
    from aftersales.tickets.models import TicketStatus, TicketType
    from aftersales.tickets.services.tickets import PRIORITY_BY_KEY

    kind = action["type"]
    if kind == "set_priority":
        _update(ticket, {"priority": PRIORITY_BY_KEY[action["priority"]]})
        return action["priority"]
    if kind == "set_status":
        status = TicketStatus.objects.get(pk=action["status"])
        _update(ticket, {"status": status})
        return status.name
    if kind == "set_type":
        ticket_type = TicketType.objects.get(pk=action["ticket_type"])
        _update(ticket, {"ticket_type": ticket_type})
        return ticket_type.name
    if kind == "add_tags":
        _update(ticket, {"add_tags": action["tags"]})
        return ", ".join(action["tags"])
    if kind == "remove_tags":
        _update(ticket, {"remove_tags": action["tags"]})
        return ", ".join(action["tags"])
    if kind == "set_field":
        _update(ticket, {"custom_fields": {action["key"]: action["value"]}})
        return f"{action['key']} = {action['value']}"
    if kind == "assign_team":
        from aftersales.routing.services import route_to_team

        outcome = route_to_team(
            ticket=ticket, team=Team.objects.get(pk=action["team"]), reason=source
        )
        return outcome.explanation
    if kind == "assign_user":
        user = User.objects.get(pk=action["user"])
        _update(ticket, {"assignee": user})
        return str(user)
    if kind == "add_follower":
        from aftersales.tickets.models import TicketFollower

        current = list(
            TicketFollower.objects.filter(ticket=ticket).values_list("user_id", flat=True)
        )
        people = list(User.objects.filter(pk__in={*current, action["user"]}))
        _update(ticket, {"followers": people})
        return str(User.objects.get(pk=action["user"]))
    if kind in {"reply", "note"}:
        from aftersales.tickets.services.conversation import add_comment
        from aftersales.tickets.services.macros import render_text

        audience: Audience = "customer" if kind == "reply" else "staff"
        body = render_text(action["body"], ticket=_fresh(ticket), actor=None, audience=audience)
        add_comment(actor=None, ticket=ticket, body=body, is_public=kind == "reply")
        return ""
    if kind == "notify":
        from aftersales.notifications.models import NotificationTemplate
        from aftersales.notifications.services import notify_ticket

        sent = notify_ticket(
            ticket=_fresh(ticket),
            audiences=action["audiences"],
            template=NotificationTemplate.objects.get(pk=action["template"]),
            reason=source,
        )
        return _("%(count)s notifications") % {"count": len(sent)}
    if kind == "raise_event":
        from aftersales.outbox.services import emit
        from aftersales.tickets.services.tickets import event_payload

        emit(
            "automation.signal",
            ticket,
            payload=event_payload(_fresh(ticket), name=action["name"], source=source),
        )
        return action["name"]
    if kind == "create_child":
        from aftersales.tickets.services.tickets import create_ticket

        parent = _fresh(ticket)
        ticket_type = (
            TicketType.objects.get(pk=action["ticket_type"])
            if action.get("ticket_type")
            else parent.ticket_type
        )
        child = create_ticket(
            actor=None,
            ticket_type=ticket_type,
            requester=parent.requester,
            subject=action["subject"],
            channel=parent.channel,
            parent=parent,
        )
        return child.number
    if kind == "escalate":
        from aftersales.routing.services import escalate

        return escalate(ticket=ticket).explanation
    if kind == "require_skills":
        from aftersales.routing.models import Skill
        from aftersales.routing.services import require_skills

        skills = list(Skill.objects.filter(pk__in=action["skills"]))
        require_skills(ticket=ticket, skills=skills)
        return ", ".join(str(skill) for skill in skills)
    raise LookupError(kind)


def apply_all(
    actions: tuple[dict[str, Any], ...] | list[dict[str, Any]], *, ticket: Any, source: str
) -> list[dict[str, Any]]:
    """Do the actions in order; one that fails is rolled back alone and logged."""
    steps: list[dict[str, Any]] = []
    for action in actions:
        try:
            with transaction.atomic():
                detail = _do(action, ticket, source)
        except DomainError as error:
            steps.append(_step(action, False, error.message))
        except Exception as error:  # an action must never take the other actions down
            logger.exception(
                "Action %s of %s failed on ticket %s", action.get("type"), source, ticket.pk
            )
            steps.append(_step(action, False, f"{type(error).__name__}: {error}"))
        else:
            steps.append(_step(action, True, detail))
    return steps


# --- Planning (dry run) -------------------------------------------------------------------------


def _plan(action: dict[str, Any], ticket: Any) -> Any:
    from aftersales.accounts.models import Team, User
    from aftersales.tickets.models import TicketStatus, TicketType

    kind = action["type"]
    if kind == "assign_team":
        from aftersales.routing.services import plan_route

        return plan_route(ticket=ticket, team=Team.objects.get(pk=action["team"])).explanation
    if kind == "notify":
        from aftersales.notifications.models import NotificationTemplate
        from aftersales.notifications.services import notify_ticket

        planned = notify_ticket(
            ticket=ticket,
            audiences=action["audiences"],
            template=NotificationTemplate.objects.get(pk=action["template"]),
            dry_run=True,
        )
        who = [f"{getattr(p, 'recipient', '')} ({getattr(p, 'channel', '')})" for p in planned]
        return "; ".join(who) or _("nobody to tell")
    if kind in {"reply", "note"}:
        from aftersales.tickets.services.macros import render_text

        audience: Audience = "customer" if kind == "reply" else "staff"
        return render_text(action["body"], ticket=ticket, actor=None, audience=audience)
    describe: dict[str, Callable[[], Any]] = {
        "set_priority": lambda: action["priority"],
        "set_status": lambda: TicketStatus.objects.get(pk=action["status"]).name,
        "set_type": lambda: TicketType.objects.get(pk=action["ticket_type"]).name,
        "add_tags": lambda: ", ".join(action["tags"]),
        "remove_tags": lambda: ", ".join(action["tags"]),
        "set_field": lambda: f"{action['key']} = {action['value']}",
        "assign_user": lambda: str(User.objects.get(pk=action["user"])),
        "add_follower": lambda: str(User.objects.get(pk=action["user"])),
        "raise_event": lambda: action["name"],
        "create_child": lambda: action["subject"],
        "escalate": lambda: "",
        "require_skills": lambda: ", ".join(str(s) for s in action["skills"]),
    }
    return describe[kind]()


def plan_all(
    actions: list[dict[str, Any]] | tuple[dict[str, Any], ...], *, ticket: Any
) -> list[dict[str, Any]]:
    """What the actions would do to ``ticket``; writes nothing, sends nothing."""
    steps = []
    for action in actions:
        try:
            steps.append(_step(action, True, _plan(action, ticket)))
        except Exception as error:  # a broken reference reads as a failed step in the preview
            steps.append(_step(action, False, f"{type(error).__name__}: {error}"))
    return steps


def label_of(kind: str) -> Any:
    found = KINDS.get(kind)
    return found.label if found else kind
