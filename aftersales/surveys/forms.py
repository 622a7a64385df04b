"""The survey settings form: input parsing only; the rules are in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine
from aftersales.notifications.choices import Event
from aftersales.notifications.models import NotificationTemplate
from aftersales.surveys import services
from aftersales.surveys.models import Kind, SurveySettings

UNITS = (("minutes", _("minutes")), ("hours", _("hours")))
CHANNELS = (("email", _("E-mail")), ("sms", _("SMS")))


def reasons_text(reasons: list[dict[str, str]]) -> str:
    return "\n".join(f"{r['key']} | {r['label_zh']} | {r['label_en']}" for r in reasons)


def parse_reasons(text: str) -> list[dict[str, str]]:
    """One reason a line: ``key | 中文 | English``."""
    reasons = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) != 3:
            raise forms.ValidationError(
                _("Line %(number)s: write key | Chinese label | English label."),
                code="invalid",
                params={"number": number},
            )
        reasons.append({"key": parts[0], "label_zh": parts[1], "label_en": parts[2]})
    return reasons


class SettingsForm(forms.Form):
    business_line = forms.ModelChoiceField(
        label=_("Business line"),
        queryset=BusinessLine.objects.none(),
        required=False,
        empty_label=_("Default (every line without its own settings)"),
    )
    is_enabled = forms.BooleanField(label=_("Send surveys"), required=False, initial=True)
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices, initial=Kind.CSAT)
    delay = forms.IntegerField(
        label=_("Delay after solving"),
        min_value=0,
        initial=1,
        help_text=_("The survey goes out this long after the ticket is solved."),
    )
    delay_unit = forms.ChoiceField(label=_("Unit"), choices=UNITS, initial="hours")
    link_valid_days = forms.IntegerField(label=_("Link valid for (days)"), min_value=1, initial=14)
    editable_days = forms.IntegerField(
        label=_("Answer can be changed for (days)"),
        min_value=0,
        initial=7,
        help_text=_("0: an answer is final."),
    )
    asks_comment = forms.BooleanField(label=_("Ask for a comment"), required=False, initial=True)
    reasons = forms.CharField(
        label=_("Reasons offered"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("One a line: key | Chinese label | English label."),
    )
    channels = forms.MultipleChoiceField(
        label=_("Send by"),
        choices=CHANNELS,
        initial=["email"],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("SMS goes to customers with a phone number once an SMS gateway is set up."),
    )
    template = forms.ModelChoiceField(
        label=_("Notification template"),
        queryset=NotificationTemplate.objects.filter(
            event=Event.SURVEY, is_active=True, audience=NotificationTemplate.Audience.CUSTOMER
        ),
        required=False,
        empty_label=_("The default survey template"),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, data: Any = None, *, user: Any, row: SurveySettings | None = None) -> None:
        initial: dict[str, Any] = {
            "reasons": reasons_text(list(services.DEFAULT_REASONS)),
        }
        if row is not None:
            hours = row.delay_minutes and row.delay_minutes % 60 == 0
            initial = {
                "business_line": row.business_line_id,
                "is_enabled": row.is_enabled,
                "kind": row.kind,
                "delay": row.delay_minutes // 60 if hours else row.delay_minutes,
                "delay_unit": "hours" if hours else "minutes",
                "link_valid_days": row.link_valid_days,
                "editable_days": row.editable_days,
                "asks_comment": row.asks_comment,
                "channels": row.channels,
                "reasons": reasons_text(row.reasons),
                "template": row.template_id,
                "version": row.version,
            }
        super().__init__(data, initial=initial)
        field: Any = self.fields["business_line"]
        if row is not None:
            field.disabled = True
            field.queryset = BusinessLine.objects.filter(pk__in=[row.business_line_id])
        else:
            lines = BusinessLine.objects.filter(is_active=True, survey_settings__isnull=True)
            if authz.scope_for(user, services.ADD_SETTINGS) != authz.Scope.ALL:
                lines = lines.filter(pk__in=authz.business_line_ids(user))
            field.queryset = lines.order_by("name")

    def clean_reasons(self) -> list[dict[str, str]]:
        return parse_reasons(self.cleaned_data.get("reasons") or "")

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        factor = 60 if data["delay_unit"] == "hours" else 1
        return {
            "is_enabled": data["is_enabled"],
            "kind": data["kind"],
            "delay_minutes": data["delay"] * factor,
            "link_valid_days": data["link_valid_days"],
            "editable_days": data["editable_days"],
            "asks_comment": data["asks_comment"],
            "channels": data["channels"],
            "reasons": data["reasons"],
            "template": data["template"],
        }

    def add_service_error(self, field: str | None) -> str | None:
        """The form field a service error names (``delay_minutes`` is ``delay``)."""
        if field is None:
            return None
        if field.startswith("reasons"):
            return "reasons"
        return {"delay_minutes": "delay"}.get(field, field)
