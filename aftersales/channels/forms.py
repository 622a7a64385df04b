"""Forms of the mailbox pages; the services check everything again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, Team
from aftersales.channels.models import Mailbox
from aftersales.tickets.models import TicketType

_SECRET_HELP = _("Stored and never shown. Leave empty to keep the stored one.")


class MailboxForm(forms.Form):
    """A mailbox; the passwords are never rendered back: left empty, the stored ones stay."""

    address = forms.EmailField(label=_("Address"), max_length=254)
    display_name = forms.CharField(label=_("Display name"), max_length=120, required=False)
    business_line = forms.ModelChoiceField(
        label=_("Business line"), queryset=BusinessLine.objects.filter(is_active=True)
    )
    team = forms.ModelChoiceField(
        label=_("Team"),
        queryset=Team.objects.filter(is_active=True).order_by("name"),
        required=False,
        help_text=_("New tickets from this mailbox go to this team."),
    )
    ticket_type = forms.ModelChoiceField(
        label=_("Ticket type for new mail"),
        queryset=TicketType.objects.filter(is_active=True).select_related("business_line"),
    )
    imap_host = forms.CharField(label=_("IMAP server"), max_length=253, required=False)
    imap_port = forms.IntegerField(label=_("IMAP port"), min_value=1, max_value=65535, initial=993)
    imap_security = forms.ChoiceField(
        label=_("IMAP security"), choices=Mailbox.Security.choices, initial="tls"
    )
    imap_user = forms.CharField(label=_("IMAP user"), max_length=254, required=False)
    imap_password = forms.CharField(
        label=_("IMAP password"),
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    folders = forms.CharField(
        label=_("Folders to fetch"),
        required=False,
        initial="INBOX",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One folder per line; INBOX when empty."),
    )
    after_fetch = forms.ChoiceField(
        label=_("After fetching"), choices=Mailbox.AfterFetch.choices, initial="mark_seen"
    )
    move_to_folder = forms.CharField(label=_("Move to folder"), max_length=200, required=False)
    smtp_host = forms.CharField(
        label=_("SMTP server"),
        max_length=253,
        required=False,
        help_text=_("Leave empty to send through the server configured for the whole site."),
    )
    smtp_port = forms.IntegerField(label=_("SMTP port"), min_value=1, max_value=65535, initial=587)
    smtp_security = forms.ChoiceField(
        label=_("SMTP security"), choices=Mailbox.Security.choices, initial="starttls"
    )
    smtp_user = forms.CharField(label=_("SMTP user"), max_length=254, required=False)
    smtp_password = forms.CharField(
        label=_("SMTP password"),
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    poll_interval_seconds = forms.IntegerField(
        label=_("Polling interval (seconds)"), min_value=10, max_value=86400, initial=60
    )
    auto_answer_limit = forms.IntegerField(
        label=_("Automatic answers per sender and hour"), min_value=1, max_value=10000, initial=10
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, mailbox: Mailbox | None = None, **kwargs: Any) -> None:
        if mailbox is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_of(mailbox)
        super().__init__(*args, **kwargs)
        if mailbox is not None:
            for name in ("imap_password", "smtp_password"):
                if getattr(mailbox, name):
                    self.fields[name].help_text = _SECRET_HELP

    GROUPS = (
        (
            _("Mailbox"),
            "",
            ("address", "display_name", "business_line", "team", "ticket_type", "is_active"),
        ),
        (
            _("Fetching (IMAP)"),
            _("Leave the server empty when your mail server delivers by pipe or LMTP."),
            (
                "imap_host",
                "imap_port",
                "imap_security",
                "imap_user",
                "imap_password",
                "folders",
                "after_fetch",
                "move_to_folder",
                "poll_interval_seconds",
            ),
        ),
        (
            _("Sending (SMTP)"),
            "",
            ("smtp_host", "smtp_port", "smtp_security", "smtp_user", "smtp_password"),
        ),
        (_("Loop protection"), "", ("auto_answer_limit",)),
    )

    def groups(self) -> list[dict[str, Any]]:
        """The fields in the sections the page shows them in."""
        return [
            {"legend": legend, "help": help_text, "fields": [self[name] for name in names]}
            for legend, help_text, names in self.GROUPS
        ]

    @staticmethod
    def initial_of(mailbox: Mailbox) -> dict[str, Any]:
        initial = {
            name: getattr(mailbox, name)
            for name in (
                "address",
                "display_name",
                "imap_host",
                "imap_port",
                "imap_security",
                "imap_user",
                "after_fetch",
                "move_to_folder",
                "smtp_host",
                "smtp_port",
                "smtp_security",
                "smtp_user",
                "poll_interval_seconds",
                "auto_answer_limit",
                "is_active",
            )
        }
        initial["business_line"] = mailbox.business_line_id
        initial["team"] = mailbox.team_id
        initial["ticket_type"] = mailbox.ticket_type_id
        initial["folders"] = "\n".join(mailbox.fetch_folders)
        return initial

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["folders"] = [line.strip() for line in data["folders"].splitlines() if line.strip()]
        for name in ("imap_password", "smtp_password"):
            if not data.get(name):
                data[name] = None
        for name in ("display_name", "imap_host", "imap_user", "move_to_folder", "smtp_host"):
            data[name] = (data.get(name) or "").strip()
        data["smtp_user"] = (data.get("smtp_user") or "").strip()
        return data


class SendTestForm(forms.Form):
    to = forms.EmailField(label=_("Send a test message to"), max_length=254)
