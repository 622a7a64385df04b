"""Forms of the ticket-type settings pages. They parse input; writes happen in ``services``."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import catalog
from aftersales.accounts.models import BusinessLine
from aftersales.core.forms import choice_field, model_field
from aftersales.tickets.models import MAX_DAYS, TicketStatus


class TicketTypeForm(forms.Form):
    business_line = forms.ModelChoiceField(
        label=_("Business line"), queryset=BusinessLine.objects.none()
    )
    key = forms.CharField(
        label=_("Key"),
        max_length=60,
        help_text=_("Lowercase letters, digits, hyphens; unique in the business line."),
    )
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=120)
    name_en = forms.CharField(label=_("Name (English)"), max_length=120)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea)
    number_prefix = forms.CharField(
        label=_("Number prefix"),
        max_length=10,
        required=False,
        help_text=_("Uppercase letters or digits, e.g. REP. Empty: the business line's code."),
    )
    icon = forms.CharField(label=_("Icon"), max_length=40, required=False)
    colour = forms.CharField(
        label=_("Colour"), max_length=7, required=False, help_text=_("As #RRGGBB.")
    )
    reopen_within_days = forms.IntegerField(
        label=_("Reopen on customer reply within (days)"),
        min_value=0,
        max_value=MAX_DAYS,
        initial=7,
        help_text=_("0: a reply never reopens a solved ticket."),
    )
    auto_close_after_days = forms.IntegerField(
        label=_("Close solved tickets after (days)"),
        min_value=0,
        max_value=MAX_DAYS,
        initial=7,
        help_text=_("0: never close automatically."),
    )
    position = forms.IntegerField(label=_("Position"), min_value=0, initial=0)
    on_portal = forms.BooleanField(
        label=_("Offered on the portal"),
        required=False,
        initial=True,
        help_text=_("Customers may choose this type when they submit a request themselves."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self, *args: Any, lines: QuerySet[BusinessLine], editing: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "business_line").queryset = lines
        if editing:
            # A type stays in its line and keeps its key: tickets and rules refer to them.
            del self.fields["business_line"]
            del self.fields["key"]
        else:
            del self.fields["version"]


class CopyForm(forms.Form):
    business_line = forms.ModelChoiceField(
        label=_("Business line"), queryset=BusinessLine.objects.none()
    )
    key = forms.CharField(label=_("Key"), max_length=60)
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=120)
    name_en = forms.CharField(label=_("Name (English)"), max_length=120)

    def __init__(self, *args: Any, lines: QuerySet[BusinessLine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "business_line").queryset = lines


class StatusForm(forms.Form):
    key = forms.CharField(label=_("Key"), max_length=60)
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=120)
    name_en = forms.CharField(label=_("Name (English)"), max_length=120)
    category = forms.ChoiceField(
        label=_("Category"),
        choices=TicketStatus.Category.choices,
        help_text=_("SLA clocks and reports understand categories, not status names."),
    )
    is_initial = forms.BooleanField(label=_("New tickets start here"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["key"]
        else:
            del self.fields["is_active"]


def _permission_choices() -> list[tuple[str, str]]:
    return [("", str(_("Anyone who may change the ticket")))] + [
        (codename, f"{permission.group} · {permission.label} ({codename})")
        for codename, permission in sorted(catalog.all_permissions().items())
    ]


class TransitionForm(forms.Form):
    from_status = forms.ModelChoiceField(label=_("From"), queryset=TicketStatus.objects.none())
    to_status = forms.ModelChoiceField(label=_("To"), queryset=TicketStatus.objects.none())
    name_zh = forms.CharField(label=_("Button label (Chinese)"), max_length=120, required=False)
    name_en = forms.CharField(label=_("Button label (English)"), max_length=120, required=False)
    required_fields = forms.CharField(
        label=_("Required fields"),
        required=False,
        max_length=1000,
        help_text=_("Field keys, separated by commas, e.g. resolution_code, fault_code."),
    )
    guard = forms.CharField(
        label=_("Condition (CEL)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=_(
            "Optional. For example: ticket.priority == 'urgent' && ticket.assignee_set. "
            "Variables: ticket.priority, channel, category, assignee_set, tier, custom_fields."
        ),
    )
    permission = forms.ChoiceField(label=_("Permission needed"), required=False, choices=())
    position = forms.IntegerField(label=_("Position"), min_value=0, initial=0)

    def __init__(
        self,
        *args: Any,
        statuses: QuerySet[TicketStatus],
        editing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "from_status").queryset = statuses
        model_field(self, "to_status").queryset = statuses
        choice_field(self, "permission").choices = _permission_choices()
        if editing:
            del self.fields["from_status"]
            del self.fields["to_status"]

    def clean_required_fields(self) -> list[str]:
        raw: str = self.cleaned_data.get("required_fields") or ""
        return [part.strip() for part in raw.split(",") if part.strip()]


class GuardSampleForm(forms.Form):
    """Sample facts to try a guard on (the "test on sample" button)."""

    guard = forms.CharField(required=False, max_length=2000)
    sample_priority = forms.CharField(label=_("Priority"), required=False, max_length=40)
    sample_channel = forms.CharField(label=_("Channel"), required=False, max_length=40)
    sample_category = forms.CharField(label=_("Status category"), required=False, max_length=40)
    sample_assignee_set = forms.BooleanField(label=_("Has an assignee"), required=False)
    sample_tier = forms.CharField(label=_("Customer tier"), required=False, max_length=40)
    sample_custom_fields = forms.CharField(
        label=_("Custom fields (JSON object)"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
    )

    def clean_sample_custom_fields(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("sample_custom_fields") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError(_('Enter a JSON object, e.g. {"model": "P9"}.')) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Enter a JSON object, e.g. {"model": "P9"}.'))
        return value

    def facts(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "priority": data.get("sample_priority", ""),
            "channel": data.get("sample_channel", ""),
            "category": data.get("sample_category", ""),
            "assignee_set": bool(data.get("sample_assignee_set")),
            "tier": data.get("sample_tier", ""),
            "custom_fields": data.get("sample_custom_fields") or {},
        }
