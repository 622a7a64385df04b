"""Forms of the notification pages; the services check everything again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import Team
from aftersales.notifications.choices import LANGUAGES, Channel, Event
from aftersales.notifications.models import ChatRobot, NotificationTemplate, SmsProvider

LANGUAGE_LABELS = {"zh-hans": _("Chinese"), "en": _("English")}


def content_field(channel: str, language: str, part: str) -> str:
    return f"{channel}__{language.replace('-', '_')}__{part}"


class TemplateForm(forms.Form):
    """A template: its identity and, per channel and language, a subject and a body."""

    key = forms.SlugField(label=_("Key"), max_length=80)
    name = forms.CharField(label=_("Name"), max_length=200)
    event = forms.ChoiceField(label=_("Event"), choices=Event.choices)
    audience = forms.ChoiceField(label=_("Audience"), choices=NotificationTemplate.Audience.choices)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, template: NotificationTemplate | None = None, **kwargs: Any):
        if template is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_of(template)
        super().__init__(*args, **kwargs)
        for channel, channel_label in Channel.choices:
            for language in LANGUAGES:
                label = f"{channel_label} · {LANGUAGE_LABELS[language]}"
                self.fields[content_field(channel, language, "subject")] = forms.CharField(
                    label=_("%(where)s: subject") % {"where": label},
                    required=False,
                    max_length=300,
                )
                self.fields[content_field(channel, language, "body")] = forms.CharField(
                    label=_("%(where)s: message") % {"where": label},
                    required=False,
                    widget=forms.Textarea(attrs={"rows": 4}),
                )

    @staticmethod
    def initial_of(template: NotificationTemplate) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "key": template.key,
            "name": template.name,
            "event": template.event,
            "audience": template.audience,
            "is_active": template.is_active,
        }
        for channel, languages in template.content.items():
            for language, texts in languages.items():
                for part in ("subject", "body"):
                    initial[content_field(channel, language, part)] = texts.get(part, "")
        return initial

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        content: dict[str, dict[str, dict[str, str]]] = {}
        for channel in Channel.values:
            for language in LANGUAGES:
                subject = data.get(content_field(channel, language, "subject")) or ""
                body = data.get(content_field(channel, language, "body")) or ""
                if subject or body:
                    content.setdefault(channel, {})[language] = {"subject": subject, "body": body}
        return {
            "key": data["key"],
            "name": data["name"],
            "event": data["event"],
            "audience": data["audience"],
            "is_active": data["is_active"],
            "content": content,
        }

    def input_of(self, field: str | None) -> str | None:
        """The form field a service error names (``content.email.en.body`` → its textarea)."""
        if field is None:
            return None
        if field.startswith("content."):
            parts = field.split(".")
            if len(parts) == 4:
                return content_field(parts[1], parts[2], parts[3])
            return None
        return field if field in self.fields else None


class RobotForm(forms.Form):
    """A group robot; the secret is never shown back: left empty, the stored one is kept."""

    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=ChatRobot.Kind.choices)
    message_type = forms.ChoiceField(
        label=_("Message type"), choices=ChatRobot.MessageType.choices, initial="text"
    )
    webhook_url = forms.CharField(
        label=_("Webhook URL"),
        max_length=500,
        widget=forms.URLInput(attrs={"autocomplete": "off"}),
        help_text=_("Paste the robot's address from the group settings."),
    )
    secret = forms.CharField(
        label=_("Signing secret"),
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("DingTalk robots with “加签”: the SEC… secret. Leave empty to keep it."),
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.filter(is_active=True).order_by("name"),
        required=False,
        help_text=_("The team whose notifications the robot posts."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if not data.get("secret"):
            data["secret"] = None
        return data


class SmsProviderForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    url_template = forms.CharField(
        label=_("URL template"),
        max_length=500,
        help_text=_("May use {{ phone }}, {{ message }}, {{ timestamp }} and {{ nonce }}."),
    )
    method = forms.ChoiceField(label=_("Method"), choices=SmsProvider.Method.choices)
    body_template = forms.CharField(
        label=_("Body template"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    content_type = forms.CharField(label=_("Content type"), max_length=100)
    secret = forms.CharField(
        label=_("Signing secret"),
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the stored secret."),
    )
    signature_header = forms.CharField(label=_("Signature header"), max_length=100)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if not data.get("secret"):
            data["secret"] = None
        return data
