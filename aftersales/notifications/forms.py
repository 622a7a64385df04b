"""Forms of the notification pages; the services check everything again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from aftersales.notifications.choices import LANGUAGES, Channel, Event
from aftersales.notifications.models import NotificationTemplate

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
