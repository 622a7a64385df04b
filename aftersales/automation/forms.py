"""Reading the rule and automation forms: plain fields, the condition builder's JSON, and the
action rows (``action-<n>-type`` and ``action-<n>-<setting>``) the page posts."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from aftersales.automation import actions as action_kinds
from aftersales.automation.models import Automation, Trigger
from aftersales.core.forms import choice_field

_ROW = re.compile(r"^action-(\d+)-type$")
MULTI_PARAMS = {"audiences", "skills"}


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    business_lines = forms.MultipleChoiceField(
        label=_("Business lines"),
        required=False,
        help_text=_("Leave empty for every line."),
        widget=forms.CheckboxSelectMultiple,
    )
    triggers = forms.MultipleChoiceField(
        label=pgettext_lazy("rule trigger", "When"),
        choices=Trigger.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    stop_processing = forms.BooleanField(
        label=_("Stop further rules when this one fires"), required=False
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, lines: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "business_lines").choices = [(str(pk), name) for pk, name in lines]

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["business_lines"] = [int(pk) for pk in data["business_lines"]]
        return data


class AutomationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    business_lines = forms.MultipleChoiceField(
        label=_("Business lines"),
        required=False,
        help_text=_("Leave empty for every line."),
        widget=forms.CheckboxSelectMultiple,
    )
    status_categories = forms.MultipleChoiceField(
        label=_("Tickets in"),
        choices=[
            ("new", _("New")),
            ("open", _("Open")),
            ("pending", _("Pending")),
            ("solved", _("Solved")),
            ("closed", _("Closed")),
        ],
        widget=forms.CheckboxSelectMultiple,
    )
    clock = forms.ChoiceField(label=_("Time since"), choices=Automation.Clock.choices)
    hours = forms.DecimalField(
        label=pgettext_lazy("a number of", "Hours"),
        min_value=0,
        max_digits=7,
        decimal_places=2,
        help_text=_("For “Due”: act this many hours before the due time."),
    )
    business_hours = forms.BooleanField(label=_("Count business hours only"), required=False)
    calendar = forms.ChoiceField(label=_("Business calendar"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(
        self,
        *args: Any,
        lines: list[tuple[int, str]],
        calendars: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "business_lines").choices = [(str(pk), name) for pk, name in lines]
        choice_field(self, "calendar").choices = [("", _("The default calendar"))] + [
            (str(pk), name) for pk, name in calendars
        ]

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["business_lines"] = [int(pk) for pk in data["business_lines"]]
        data["calendar"] = int(data["calendar"]) if data["calendar"] else None
        data["hours"] = str(data["hours"])
        return data


def posted_condition(post: QueryDict) -> Any:
    """The builder's tree; text that is not JSON is passed on for the compiler to refuse."""
    raw = post.get("condition") or "null"
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _param(post: QueryDict, index: str, name: str) -> Any:
    key = f"action-{index}-{name}"
    if name in MULTI_PARAMS:
        return post.getlist(key)
    if name == "tags":
        return [tag.strip() for tag in post.get(key, "").split(",") if tag.strip()]
    if name == "value":
        raw = post.get(key, "")
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    value = post.get(key, "")
    return (
        int(value)
        if name in {"status", "ticket_type", "team", "user", "template"} and value.isdigit()
        else value
    )


def posted_actions(post: QueryDict) -> list[dict[str, Any]]:
    """The action rows in page order, as the action dictionaries the services check."""
    indices = sorted(
        (int(match.group(1)) for key in post if (match := _ROW.match(key))),
    )
    result = []
    for number in indices:
        index = str(number)
        kind = post.get(f"action-{index}-type", "")
        action: dict[str, Any] = {"type": kind}
        known = action_kinds.KINDS.get(kind)
        for name in known.params if known else ():
            value = _param(post, index, name)
            if value in ("", []) and name == "ticket_type" and kind == "create_child":
                continue
            action[name] = value
        if kind == "require_skills":
            action["skills"] = [int(v) for v in action.get("skills", []) if str(v).isdigit()]
        result.append(action)
    return result
