"""Forms of web forms: the settings form, and the visitor's form (contact, what happened,
photos, the ticket type's customer fields). They only parse input; the services validate."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import Team
from aftersales.core.forms import model_field
from aftersales.customfields.forms import CustomFieldsForm
from aftersales.customfields.models import FieldDefinition
from aftersales.tickets import workspace_forms
from aftersales.tickets.models import Ticket, TicketType
from aftersales.webforms import services

HONEYPOT = "website"


class _WithLine(forms.ModelChoiceField):
    """A ticket type or team named with its business line (several lines share names)."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.business_line.name} · {obj.name}"


class WebFormForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=services.MAX_NAME)
    ticket_type = _WithLine(label=_("Ticket type"), queryset=TicketType.objects.none())
    team = _WithLine(
        label=_("Team"),
        queryset=Team.objects.none(),
        required=False,
        help_text=_("Tickets from this form go to this team. Empty: routing decides."),
    )
    default_priority = forms.TypedChoiceField(
        label=_("Priority"),
        choices=Ticket.Priority.choices,
        coerce=int,
        initial=Ticket.Priority.NORMAL,
    )
    allowed_origins = forms.CharField(
        label=_("Allowed websites"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "One origin per line, e.g. https://www.example.com. Only these sites may embed "
            "the form or post to it."
        ),
    )
    per_minute_limit = forms.IntegerField(
        label=_("Posts per minute"),
        min_value=0,
        max_value=services.MAX_LIMIT,
        initial=5,
        help_text=_("From one client address. 0: no limit."),
    )
    per_hour_limit = forms.IntegerField(
        label=_("Posts per hour"),
        min_value=0,
        max_value=services.MAX_LIMIT,
        initial=30,
        help_text=_("From one client address. 0: no limit."),
    )
    has_honeypot = forms.BooleanField(
        label=_("Catch bots with a hidden field"), required=False, initial=True
    )
    is_contact_required = forms.BooleanField(
        label=_("Require name and e-mail or phone"), required=False, initial=True
    )
    success_message_zh = forms.CharField(
        label=_("Success message (Chinese)"),
        required=False,
        max_length=services.MAX_MESSAGE,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    success_message_en = forms.CharField(
        label=_("Success message (English)"),
        required=False,
        max_length=services.MAX_MESSAGE,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self, *args: Any, ticket_types: QuerySet[TicketType], teams: QuerySet[Team], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "ticket_type").queryset = ticket_types
        model_field(self, "team").queryset = teams

    def values(self) -> dict[str, Any]:
        """The cleaned data as the service's ``values``."""
        data = dict(self.cleaned_data)
        data.pop("version", None)
        data["allowed_origins"] = data["allowed_origins"].split()
        return data


class VisitorForm(forms.Form):
    """What every web form asks, around the ticket type's own fields."""

    name = forms.CharField(label=_("Your name"), max_length=services.MAX_CONTACT_NAME)
    email = forms.CharField(
        label=_("E-mail"),
        max_length=254,
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(
        label=_("What happened?"), required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    photos = workspace_forms.MultipleFileField(
        label=_("Photos or videos"),
        required=False,
        help_text=_("Optional. Several files at once are fine."),
    )
    token = forms.CharField(widget=forms.HiddenInput, required=False)
    # The honeypot: hidden from people by the stylesheet, filled by form-filling bots.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def __init__(self, *args: Any, web_form: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["autocomplete"] = "name"
        if web_form.is_contact_required:
            self.fields["email"].help_text = _("Enter your e-mail address or phone number.")
        else:
            self.fields["name"].required = False
        self.fields["photos"].widget.attrs["accept"] = "image/*,video/*"
        if not web_form.has_honeypot:
            del self.fields[HONEYPOT]

    def add_problems(self, problems: list[dict[str, str]]) -> list[dict[str, str]]:
        """Put the service's refusals next to their fields; return those for other fields."""
        rest = []
        for problem in problems:
            name = {"files": "photos"}.get(problem["field"], problem["field"])
            if name in self.fields and name != "token":
                if not self.has_error(name):
                    self.add_error(name, problem["detail"])
            else:
                rest.append(problem)
        return rest


def custom_form(data: QueryDict | None, definitions: list[FieldDefinition]) -> CustomFieldsForm:
    """The type's customer fields, as on the new-ticket page (cascades as level selects)."""
    bound = workspace_forms.join_cascade_levels(data, definitions) if data is not None else None
    defaults = {d.key: d.default for d in definitions if d.default is not None}
    form = CustomFieldsForm(bound, definitions=definitions, values=defaults, audience="customer")
    workspace_forms.loosen_cascades(form)
    return form


def sections(form: CustomFieldsForm) -> list[dict[str, Any]]:
    return workspace_forms.custom_field_sections(form)


def silence(form: forms.Form) -> None:
    workspace_forms.silence(form)
