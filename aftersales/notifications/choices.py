"""Events and channels of notifications."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Event(models.TextChoices):
    """What happened, as the recipient would say it; one template family per event."""

    TICKET_RECEIVED = "ticket_received", _("Ticket received")
    TICKET_REPLIED = "ticket_replied", _("Ticket replied")
    STATUS_CHANGED = "status_changed", _("Status changed")
    TICKET_ASSIGNED = "ticket_assigned", _("Ticket assigned")
    MENTIONED = "mentioned", _("Mentioned")
    SLA_WARNING = "sla_warning", _("SLA warning")
    SURVEY = "survey", _("Satisfaction survey")
    CUSTOM = "custom", _("Other")


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    WECOM = "wecom", _("WeCom group robot")
    DINGTALK = "dingtalk", _("DingTalk group robot")
    IN_APP = "in_app", _("In-app")


# The languages every template is written in; a recipient's language picks one.
LANGUAGES: tuple[str, ...] = ("zh-hans", "en")
DEFAULT_LANGUAGE = "zh-hans"
