"""Logging a call from the ticket page or the "Log a call" page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from aftersales.calls.models import Call
from aftersales.calls.services import CallDetails
from aftersales.tickets.models import TicketType


class CallForm(forms.Form):
    direction = forms.ChoiceField(
        label=_("Direction"), choices=Call.Direction.choices, initial=Call.Direction.INBOUND
    )
    phone = forms.CharField(label=_("Phone number"), max_length=40)
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=Call.Outcome.choices, initial=Call.Outcome.ANSWERED
    )
    minutes = forms.DecimalField(
        label=_("Duration (minutes)"),
        min_value=Decimal(0),
        max_value=Decimal(1440),
        decimal_places=1,
        initial=Decimal(0),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    recording_url = forms.URLField(label=_("Recording link"), required=False, assume_scheme="https")

    def details(self) -> CallDetails:
        data = self.cleaned_data
        return CallDetails(
            direction=data["direction"],
            phone=data["phone"],
            outcome=data["outcome"],
            duration_seconds=int(data["minutes"] * 60),
            notes=data["notes"],
            recording_url=data["recording_url"],
        )


class NewTicketCallForm(CallForm):
    """A call that opens a ticket: who called (when the number is new) and what it is about."""

    caller_name = forms.CharField(
        label=_("Caller's name"),
        max_length=200,
        required=False,
        help_text=_("Only needed when the number belongs to no customer yet."),
    )
    ticket_type = forms.ModelChoiceField(label=_("Ticket type"), queryset=TicketType.objects.none())
    subject = forms.CharField(label=_("Subject"), max_length=200)

    field_order = ["phone", "caller_name", "direction", "outcome", "minutes", "ticket_type",
                   "subject", "notes", "recording_url"]  # fmt: skip

    def __init__(self, *args: Any, ticket_types: QuerySet[TicketType], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["ticket_type"]
        field.queryset = ticket_types  # type: ignore[attr-defined]
