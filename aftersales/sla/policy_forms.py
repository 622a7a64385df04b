"""Forms of the SLA policy pages; they only parse text, the services validate."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from aftersales.sla.models import Metric

PRIORITY_CHOICES = [
    ("", _("Any priority")),
    ("1", _("Low")),
    ("2", _("Normal")),
    ("3", _("High")),
    ("4", _("Urgent")),
]
METRIC_SUGGESTIONS = [*Metric.choices, ("onsite_arrival", _("On-site arrival"))]
EMPTY_ROWS = 2


class PolicyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    business_lines = forms.MultipleChoiceField(
        label=_("Business lines"),
        required=False,
        help_text=_("None chosen: every business line."),
        widget=forms.CheckboxSelectMultiple,
    )
    position = forms.IntegerField(
        label=_("Position"),
        min_value=0,
        required=False,
        help_text=_("Policies are tried from the lowest position; the first that matches wins."),
    )
    calendar = forms.ChoiceField(label=_("Calendar"), required=False)
    pause_on_pending = forms.BooleanField(
        label=_("Pause while waiting for the customer"), required=False
    )
    is_active = forms.BooleanField(label=_("Active"), required=False)

    def __init__(
        self,
        *args: Any,
        lines: list[tuple[int, str]],
        calendars: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["business_lines"].choices = [(str(pk), name) for pk, name in lines]  # type: ignore[attr-defined]
        self.fields["calendar"].choices = [  # type: ignore[attr-defined]
            ("", _("The business line's calendar")),
            *[(str(pk), name) for pk, name in calendars],
        ]


def posted_targets(post: QueryDict) -> list[dict[str, Any]]:
    """Rows ``target-N-metric`` … of the form; a row without metric and minutes is skipped."""
    indexes = sorted(
        {key.split("-")[1] for key in post if key.startswith("target-") and key.count("-") >= 2},
        key=lambda value: int(value) if value.isdigit() else 0,
    )
    rows = []
    for index in indexes:
        metric = post.get(f"target-{index}-metric", "").strip()
        minutes = post.get(f"target-{index}-minutes", "").strip()
        if not metric and not minutes:
            continue
        rows.append(
            {
                "metric": metric,
                "priority": post.get(f"target-{index}-priority", "") or None,
                "minutes": minutes,
                "business_time": post.get(f"target-{index}-business_time") == "on",
                "warn_before_minutes": post.get(f"target-{index}-warn", "").strip() or 0,
            }
        )
    return rows


def posted_condition(post: QueryDict) -> Any:
    raw = post.get("condition") or "null"
    try:
        return json.loads(raw)
    except ValueError:
        return raw
