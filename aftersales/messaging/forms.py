"""Forms of the messaging settings pages. Secrets are never rendered back."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, Team
from aftersales.messaging.models import PlatformAccount
from aftersales.tickets.models import TicketType

_SECRET = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


class AccountForm(forms.Form):
    """A platform account; an empty secret keeps the stored one."""

    name = forms.CharField(label=_("Name"), max_length=120)
    key = forms.CharField(
        label=_("Key"),
        max_length=60,
        help_text=_("Part of the callback URL; letters, digits, - and _ only."),
    )
    kind = forms.ChoiceField(label=_("Platform"), choices=PlatformAccount.Kind.choices)
    app_id = forms.CharField(
        label=_("App id"),
        max_length=128,
        help_text=_("WeChat AppID, WeCom corp id or DingTalk AppKey."),
    )
    agent_id = forms.CharField(
        label=_("Agent id"),
        max_length=64,
        required=False,
        help_text=_("WeCom application AgentId or DingTalk robot code."),
    )
    app_secret = forms.CharField(
        label=_("App secret"),
        max_length=256,
        required=False,
        widget=_SECRET,
        help_text=_("Leave empty to keep the stored secret."),
    )
    token = forms.CharField(
        label=_("Token"),
        max_length=128,
        required=False,
        widget=_SECRET,
        help_text=_("The callback token set on the platform. Leave empty to keep it."),
    )
    encoding_aes_key = forms.CharField(
        label=_("EncodingAESKey"),
        max_length=64,
        required=False,
        widget=_SECRET,
        help_text=_("43 characters, for the safe (encrypted) mode. Leave empty to keep it."),
    )
    api_base_url = forms.CharField(
        label=_("API base URL"),
        max_length=300,
        required=False,
        help_text=_("Leave empty for the platform's own API."),
    )
    business_line = forms.ModelChoiceField(
        label=_("Business line"), queryset=BusinessLine.objects.filter(is_active=True)
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.filter(is_active=True), required=False
    )
    ticket_type = forms.ModelChoiceField(
        label=_("Ticket type for new conversations"),
        queryset=TicketType.objects.filter(is_active=True).select_related("business_line"),
    )
    conversation_hours = forms.IntegerField(
        label=_("Conversation window (hours)"),
        min_value=1,
        max_value=720,
        initial=72,
        help_text=_("A message within this many hours of the last one continues the open ticket."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def service_arguments(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    @classmethod
    def initial_of(cls, account: PlatformAccount) -> dict[str, Any]:
        return {
            name: getattr(account, name)
            for name in cls.base_fields
            if name not in ("app_secret", "token", "encoding_aes_key")
        }


class SendTestForm(forms.Form):
    recipient = forms.CharField(
        label=_("Recipient"),
        max_length=128,
        help_text=_("An openid (WeChat) or user id (WeCom, DingTalk) that wrote to the account."),
    )
    text = forms.CharField(
        label=_("Message"), max_length=2000, initial=_("Test message from the service desk.")
    )
