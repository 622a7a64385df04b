"""The macro form of the pages: the message, one input per kind of field change, sharing.

It parses input only; :mod:`aftersales.tickets.services.macros` checks and writes. The field
changes a macro stores as ``[{"field", "value"}, …]`` are laid out here as one input each, and
the service's error on ``actions.<index>.*`` is put back next to the input that produced it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.accounts.models import BusinessLine, User
from aftersales.core.forms import choice_field, model_field
from aftersales.customfields.models import FieldDefinition
from aftersales.tickets import selectors
from aftersales.tickets.models import Macro, Ticket, TicketStatus
from aftersales.tickets.permissions import SHARE_MACRO
from aftersales.tickets.services import macros as macro_services
from aftersales.tickets.services.tickets import PRIORITY_KEYS, TARGET

NO_CHANGE = ""
NOBODY = "none"
_TAG_SEPARATORS = re.compile(r"[,\n]+")
_CUSTOM_LINE = re.compile(r"^\s*([a-z][a-z0-9_]{0,62})\s*=(.*)$")
# The order in which the inputs become actions; custom-field lines follow.
ACTION_INPUTS = ("priority", "status", "team", "assignee", "add_tags", "remove_tags")


def _tags(text: str) -> list[str]:
    return [tag.strip() for tag in _TAG_SEPARATORS.split(text) if tag.strip()]


class MacroForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=macro_services.MAX_NAME)
    reply_kind = forms.ChoiceField(
        label=_("Message"), choices=Macro.ReplyKind.choices, initial=Macro.ReplyKind.PUBLIC
    )
    body = forms.CharField(
        label=_("Message template"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Placeholders such as {{ ticket.number }} are filled in when applied."),
    )
    priority = forms.ChoiceField(label=_("Set priority"), required=False)
    status = forms.ChoiceField(label=_("Set status"), required=False)
    team = forms.ChoiceField(label=_("Set team"), required=False)
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    add_tags = forms.CharField(
        label=_("Add tags"), required=False, help_text=_("Separate tags with commas.")
    )
    remove_tags = forms.CharField(
        label=_("Remove tags"), required=False, help_text=_("Separate tags with commas.")
    )
    custom_fields = forms.CharField(
        label=_("Set custom fields"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line: key = value. An empty value clears the field."),
    )
    is_shared = forms.BooleanField(label=_("Share with everyone"), required=False)
    business_line = forms.ModelChoiceField(
        label=_("Only for business line"),
        queryset=BusinessLine.objects.none(),
        required=False,
        empty_label=_("All business lines"),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, actor: User, macro: Macro | None = None, **kwargs: Any) -> None:
        if macro is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_of(macro)
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.macro = macro
        self._action_inputs: list[str] = []
        choice_field(self, "priority").choices = [
            (NO_CHANGE, _("No change")),
            *((key, Ticket.Priority(value).label) for value, key in PRIORITY_KEYS.items()),
        ]
        choice_field(self, "status").choices = [
            (NO_CHANGE, _("No change")),
            *_status_choices(actor),
        ]
        teams = accounts_selectors.teams_visible_to(actor).filter(is_active=True)
        choice_field(self, "team").choices = [
            (NO_CHANGE, _("No change")),
            (NOBODY, _("No team")),
            *((str(team.pk), f"{team.name} · {team.business_line.name}") for team in teams),
        ]
        people = accounts_selectors.users_visible_to(actor).filter(
            is_active=True, kind=User.Kind.STAFF
        )
        choice_field(self, "assignee").choices = [
            (NO_CHANGE, _("No change")),
            ("me", _("Me (whoever applies the macro)")),
            (NOBODY, _("Nobody")),
            *((str(person.pk), str(person)) for person in people.order_by("username")),
        ]
        self.may_share = authz.scope_for(actor, SHARE_MACRO) is not None
        if self.may_share:
            lines = BusinessLine.objects.filter(is_active=True).order_by("name")
            if authz.scope_for(actor, SHARE_MACRO) != authz.Scope.ALL:
                lines = lines.filter(pk__in=authz.business_line_ids(actor))
            model_field(self, "business_line").queryset = lines
        else:
            del self.fields["is_shared"]
            del self.fields["business_line"]

    def service_arguments(self) -> dict[str, Any]:
        """What ``create_macro`` / ``update_macro`` take, from the cleaned data."""
        data = self.cleaned_data
        arguments: dict[str, Any] = {
            "name": data["name"],
            "reply_kind": data["reply_kind"],
            "body": data.get("body") or "",
            "actions": self._actions(),
        }
        if self.may_share:
            shared = bool(data.get("is_shared"))
            arguments["is_shared"] = shared
            arguments["business_line"] = data.get("business_line") if shared else None
        return arguments

    def _actions(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        actions: list[dict[str, Any]] = []
        self._action_inputs = []

        def add(field: str, value: Any, source: str) -> None:
            actions.append({"field": field, "value": value})
            self._action_inputs.append(source)

        if data.get("priority"):
            add("priority", data["priority"], "priority")
        if data.get("status"):
            add("status", data["status"], "status")
        for name in ("team", "assignee"):
            value = data.get(name) or NO_CHANGE
            if value == NOBODY:
                add(name, None, name)
            elif value == "me":
                add(name, "me", name)
            elif value.isdigit():
                add(name, int(value), name)
        for name in ("add_tags", "remove_tags"):
            tags = _tags(data.get(name) or "")
            if tags:
                add(name, tags, name)
        for key, value in _custom_values(data.get("custom_fields") or ""):
            add(f"{macro_services.CUSTOM_FIELD_PREFIX}{key}", value, "custom_fields")
        return actions

    def clean_custom_fields(self) -> str:
        text: str = self.cleaned_data.get("custom_fields") or ""
        for line in text.splitlines():
            if line.strip() and not _CUSTOM_LINE.match(line):
                raise forms.ValidationError(
                    _("Write each change as key = value, e.g. resolution_code = fixed.")
                )
        return text

    def input_of(self, service_field: str | None) -> str | None:
        """The input to show a service error on (``actions.2.value`` → "team"), if any."""
        if not service_field:
            return None
        if service_field.startswith("actions."):
            index = service_field.split(".")[1]
            if index.isdigit() and int(index) < len(self._action_inputs):
                return self._action_inputs[int(index)]
            return None
        return service_field if service_field in self.fields else None


def _status_choices(actor: User) -> list[tuple[str, list[tuple[str, str]]]]:
    """Statuses grouped by the types the actor files tickets under; a macro names the key."""
    types = selectors.ticket_types_usable_by(actor).order_by("business_line__name", "position")
    statuses = (
        TicketStatus.objects.filter(ticket_type__in=types, is_active=True)
        .select_related("ticket_type", "ticket_type__business_line")
        .order_by("ticket_type__business_line__name", "ticket_type__position", "position")
    )
    groups: dict[int, tuple[str, list[tuple[str, str]]]] = {}
    for status in statuses:
        ticket_type = status.ticket_type
        label = f"{ticket_type.business_line.name} · {ticket_type.name}"
        groups.setdefault(ticket_type.pk, (label, []))[1].append(
            (status.key, f"{status.name} ({status.key})")
        )
    return list(groups.values())


def _definition(key: str) -> FieldDefinition | None:
    return FieldDefinition.objects.filter(target=TARGET, key=key, is_active=True).first()


def _custom_values(text: str) -> list[tuple[str, Any]]:
    values: list[tuple[str, Any]] = []
    for line in text.splitlines():
        match = _CUSTOM_LINE.match(line)
        if match is None:
            continue
        key, raw = match.group(1), match.group(2).strip()
        if not raw:
            values.append((key, None))
            continue
        definition = _definition(key)
        values.append((key, definition.handler.value_from_text(raw) if definition else raw))
    return values


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def initial_of(macro: Macro) -> dict[str, Any]:
    """The form's inputs for a stored macro (the inverse of ``MacroForm._actions``)."""
    initial: dict[str, Any] = {
        "name": macro.name,
        "reply_kind": macro.reply_kind,
        "body": macro.body,
        "is_shared": macro.is_shared,
        "business_line": macro.business_line_id,
        "version": macro.version,
    }
    custom: list[str] = []
    for action in macro.actions:
        field, value = action["field"], action["value"]
        if field in {"priority", "status"}:
            initial[field] = value
        elif field in {"team", "assignee"}:
            initial[field] = NOBODY if value is None else str(value)
        elif field in {"add_tags", "remove_tags"}:
            initial[field] = ", ".join(value)
        elif field.startswith(macro_services.CUSTOM_FIELD_PREFIX):
            key = field.removeprefix(macro_services.CUSTOM_FIELD_PREFIX)
            custom.append(f"{key} = {'' if value is None else _as_text(value)}")
    initial["custom_fields"] = "\n".join(custom)
    return initial
