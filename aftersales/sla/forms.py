"""Forms of the calendar settings pages; they only parse text, the services validate."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from aftersales.sla.models import DayKind, HolidaySet

WEEKDAYS = (
    _("Monday"),
    _("Tuesday"),
    _("Wednesday"),
    _("Thursday"),
    _("Friday"),
    _("Saturday"),
    _("Sunday"),
)
HOURS_HELP = _("Intervals as 09:00-12:00, 13:30-18:00; empty: not worked.")


def parse_intervals(text: str) -> list[dict[str, str]]:
    """``"09:00-12:00, 13:30-18:00"`` as interval dicts (times are checked by the services)."""
    intervals = []
    for part in text.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        start, _sep, end = part.partition("-")
        intervals.append({"start": start.strip(), "end": end.strip()})
    return intervals


def format_intervals(intervals: list[dict[str, str]]) -> str:
    return ", ".join(f"{i['start']}-{i['end']}" for i in intervals)


class CalendarForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    time_zone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        initial="Asia/Shanghai",
        help_text=_("e.g. Asia/Shanghai"),
    )
    owner = forms.ChoiceField(label=_("Belongs to"), required=False)
    holiday_set = forms.ModelChoiceField(
        label=_("Holiday set"), queryset=HolidaySet.objects.none(), required=False
    )
    is_24x7 = forms.BooleanField(label=_("24x7 (every minute counts)"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, owners: list[tuple[str, str]], holiday_sets: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)  # noqa: S101 - declared above
        owner.choices = [("", _("Nobody (administrators only)")), *owners]
        holiday_set = self.fields["holiday_set"]
        assert isinstance(holiday_set, forms.ModelChoiceField)  # noqa: S101 - declared above
        holiday_set.queryset = holiday_sets
        for day, label in enumerate(WEEKDAYS):
            self.fields[f"hours_{day}"] = forms.CharField(
                label=label, required=False, help_text=HOURS_HELP if day == 0 else ""
            )

    def hours(self) -> dict[str, list[dict[str, str]]]:
        return {str(day): parse_intervals(self.cleaned_data[f"hours_{day}"]) for day in range(7)}


class DayForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(label=_("Kind"), choices=DayKind.choices)
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    intervals = forms.CharField(
        label=_("Hours"),
        required=False,
        help_text=_(
            "For special hours, e.g. 09:00-12:00. "
            "A make-up workday left empty works the normal hours."
        ),
    )


class ComputeForm(forms.Form):
    start = forms.DateTimeField(
        label=_("Start (calendar time)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    minutes = forms.IntegerField(label=_("Business minutes"), min_value=0, max_value=60 * 24 * 366)


class YearForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    days = forms.CharField(
        label=_("Days"),
        widget=forms.Textarea(attrs={"rows": 14}),
        required=False,
        help_text=_(
            "One day a line: date, holiday or workday (a make-up workday), name. "
            "E.g. 2027-10-01 holiday National Day"
        ),
    )
    source = forms.CharField(label=_("Source"), max_length=200, required=False)

    def parsed_days(self) -> list[dict[str, Any]]:
        days = []
        for number, line in enumerate(self.cleaned_data["days"].splitlines(), start=1):
            parts = line.split(None, 2)
            if not parts:
                continue
            try:
                day = date.fromisoformat(parts[0])
            except ValueError:
                raise forms.ValidationError(
                    _("Line %(number)s: enter a date as YYYY-MM-DD."), params={"number": number}
                ) from None
            kind = parts[1] if len(parts) > 1 else ""
            days.append({"date": day, "kind": kind, "name": parts[2] if len(parts) > 2 else ""})
        return days
