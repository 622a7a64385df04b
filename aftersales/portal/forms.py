"""The portal's forms: sign-in, a new request, a reply. Phone-sized and forgiving of input."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.forms import LoginForm
from aftersales.tickets.models import TicketType
from aftersales.tickets.workspace_forms import MultipleFileField


def _media_field() -> MultipleFileField:
    field = MultipleFileField(label=_("Photos or videos"), required=False)
    field.widget.attrs["accept"] = "image/*,video/*,.pdf"
    return field


class PasswordSignInForm(LoginForm):
    """The staff sign-in form, asking for what customers know themselves by."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("E-mail, phone or username")


class CodeRequestForm(forms.Form):
    address = forms.CharField(
        label=_("E-mail address or mobile phone"),
        max_length=254,
        widget=forms.TextInput(
            attrs={"autocomplete": "email", "autofocus": True, "inputmode": "email"}
        ),
    )


class CodeVerifyForm(forms.Form):
    code = forms.CharField(
        label=_("Six-digit code"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class RequestForm(forms.Form):
    """What every request asks; the type's own fields come from the form engine."""

    ticket_type = forms.ModelChoiceField(
        label=_("What do you need?"), queryset=TicketType.objects.none(), empty_label="—"
    )
    subject = forms.CharField(
        label=_("Subject"),
        max_length=200,
        help_text=_("In a few words: what is wrong?"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    attachments = _media_field()

    def __init__(self, *args: Any, ticket_types: QuerySet[TicketType], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["ticket_type"]
        field.queryset = ticket_types  # type: ignore[attr-defined]
        field.label_from_instance = lambda t: (  # type: ignore[attr-defined]
            f"{t.business_line.name} · {t.name}"
        )


class ContactForm(forms.Form):
    """Who is asking, for visitors without an account."""

    name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.CharField(
        label=_("E-mail"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Mobile phone"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("email") or "").strip() and not (data.get("phone") or "").strip():
            self.add_error("email", _("Enter an e-mail address or a phone number."))
        return data


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your reply"), max_length=20000, widget=forms.Textarea(attrs={"rows": 4})
    )
    attachments = _media_field()
