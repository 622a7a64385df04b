"""Satisfaction surveys: settings, scheduling on solve, sending once, answering by signed link.

For other apps (the customer portal among them):

* :func:`aftersales.surveys.selectors.survey_for_ticket` ``(ticket) -> Survey | None`` — the
  ticket's survey, whatever its state (the caller fetched the ticket through a scoped selector);
* :func:`survey_url` ``(survey) -> str`` — the absolute path of the survey page
  (``/survey/<token>/``), signed and bound to that one survey; :func:`survey_link` is the same
  with the site's base URL, as notifications carry it;
* :func:`answer_survey` — record or change the answer (a contact of the ticket's customer, or
  anyone holding the link when ``actor`` is None).

The life of a survey: a ticket entering the solved (or closed) category schedules it
(``ticket.status_changed`` subscriber), a reopening before it goes out cancels it, the periodic
job :func:`send_due_surveys` sends each due one exactly once (the state change and the
notification rows commit together), and an answer writes the rating to the ticket, its timeline,
the audit log and the outbox event ``survey.answered`` that rules react to.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, User
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
)
from aftersales.outbox import services as outbox
from aftersales.surveys.models import (
    MAX_COMMENT,
    MAX_DAYS,
    MAX_DELAY_MINUTES,
    MAX_REASONS,
    SEND_CHANNELS,
    Kind,
    Survey,
    SurveySettings,
)
from aftersales.tickets.models import Ticket, TicketEvent, TicketStatus

logger = logging.getLogger(__name__)

Action = AuditEntry.Action
State = Survey.State
Category = TicketStatus.Category

VIEW_SETTINGS, ADD_SETTINGS, CHANGE_SETTINGS, DELETE_SETTINGS = (
    f"surveys.{verb}_surveysettings" for verb in ("view", "add", "change", "delete")
)
VIEW_SURVEY = "surveys.view_survey"
RECORD_RESPONSE = "surveys.record_response"

SOLVED_CATEGORIES = frozenset({Category.SOLVED, Category.CLOSED})
SALT = "aftersales.surveys.link"
SEND_BATCH = 200
_REASON_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

# What a line without settings of its own (and without a default row) asks.
DEFAULT_REASONS: tuple[dict[str, str], ...] = (
    {"key": "speed", "label_zh": "响应速度", "label_en": "Speed of response"},
    {"key": "attitude", "label_zh": "服务态度", "label_en": "Friendliness"},
    {"key": "expertise", "label_zh": "专业能力", "label_en": "Expertise"},
    {"key": "result", "label_zh": "解决效果", "label_en": "The solution"},
)


class LinkExpired(DomainError):
    """The survey link is past its validity (or its answer past its edit window)."""

    status = 410
    default_message = _("This survey link has expired.")


# --- Settings -----------------------------------------------------------------------------------

SETTINGS_FIELDS = (
    "is_enabled",
    "delay_minutes",
    "link_valid_days",
    "editable_days",
    "kind",
    "reasons",
    "asks_comment",
    "channels",
    "template",
)


def built_in_settings() -> SurveySettings:
    """The settings used when no row applies (unsaved)."""
    return SurveySettings(reasons=[dict(reason) for reason in DEFAULT_REASONS])


def settings_for_line(line_id: int | None) -> SurveySettings:
    """The line's own settings, else the default row, else the built-in defaults."""
    rows = {
        row.business_line_id: row
        for row in SurveySettings.objects.filter(business_line_id__in=[line_id])
        | SurveySettings.objects.filter(business_line__isnull=True)
    }
    return rows.get(line_id) or rows.get(None) or built_in_settings()


def _require_line(actor: Any, codename: str, line: BusinessLine | None) -> None:
    """The actor holds ``codename`` over ``line``; the default row needs the "all" scope."""
    scope = authz.scope_for(actor, codename)
    if scope is None:
        raise PermissionDenied("permission_denied", params={"permission": codename})
    if scope == authz.Scope.ALL:
        return
    if line is None:
        raise PermissionDenied(
            "outside_scope",
            field="business_line",
            message=_("Only administrators of every line may change the default settings."),
        )
    reaches_lines = authz.SCOPE_RANK[scope] >= authz.SCOPE_RANK[authz.Scope.BUSINESS_LINES]
    if not reaches_lines or line.pk not in authz.business_line_ids(actor):
        raise PermissionDenied(
            "outside_scope", field="business_line", message=_("Choose a business line you manage.")
        )


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise DomainError("invalid", field=field, message=_("Enter a whole number."))
    number = int(value)
    if not low <= number <= high:
        raise DomainError(
            "out_of_range",
            field=field,
            message=_("Enter a number from %(low)s to %(high)s."),
            params={"low": low, "high": high},
        )
    return number


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise DomainError("invalid", field=field, message=_("Answer yes or no."))
    return value


def clean_reasons(value: Any) -> list[dict[str, str]]:
    """A list of ``{"key", "label_zh", "label_en"}``; each problem names its place."""
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise DomainError("invalid", field="reasons", message=_("Enter a list of reasons."))
    if len(value) > MAX_REASONS:
        raise DomainError(
            "too_many",
            field="reasons",
            message=_("Offer at most %(max)s reasons."),
            params={"max": MAX_REASONS},
        )
    cleaned: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise DomainError(
                "invalid", field=f"reasons.{index}", message=_("Enter a key and two labels.")
            )
        unknown = sorted(set(item) - {"key", "label_zh", "label_en"})
        if unknown:
            raise DomainError(
                "unknown_field",
                field=f"reasons.{index}.{unknown[0]}",
                message=_("This field cannot be changed."),
            )
        key = item.get("key")
        if not isinstance(key, str) or not _REASON_KEY.match(key):
            raise DomainError(
                "invalid",
                field=f"reasons.{index}.key",
                message=_("Enter a key of lower-case letters, digits, - and _."),
            )
        if key in seen:
            raise DomainError(
                "duplicate",
                field=f"reasons.{index}.key",
                message=_("Another reason already uses this key."),
            )
        seen.add(key)
        labels: dict[str, str] = {}
        for part in ("label_zh", "label_en"):
            label = item.get(part)
            if not isinstance(label, str) or not label.strip():
                raise DomainError(
                    "required",
                    field=f"reasons.{index}.{part}",
                    message=_("This field is required."),
                )
            if len(label.strip()) > 80:
                raise DomainError(
                    "too_long",
                    field=f"reasons.{index}.{part}",
                    message=_("Keep it under %(max)s characters."),
                    params={"max": 80},
                )
            labels[part] = label.strip()
        cleaned.append({"key": key, **labels})
    return cleaned


def _channels(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise DomainError("required", field="channels", message=_("Choose how the survey is sent."))
    if any(item not in SEND_CHANNELS for item in value):
        raise DomainError(
            "invalid_choice",
            field="channels",
            message=_("Choose one of: %(choices)s."),
            params={"choices": ", ".join(SEND_CHANNELS)},
        )
    return [channel for channel in SEND_CHANNELS if channel in value]


def _template(value: Any) -> Any:
    from aftersales.notifications.choices import Event
    from aftersales.notifications.models import NotificationTemplate

    pk = getattr(value, "pk", value)
    if pk in (None, ""):
        return None
    template = (
        NotificationTemplate.objects.filter(
            pk=pk,
            is_active=True,
            event=Event.SURVEY,
            audience=NotificationTemplate.Audience.CUSTOMER,
        ).first()
        if str(pk).isdigit()
        else None
    )
    if template is None:
        raise DomainError(
            "invalid_choice",
            field="template",
            message=_("Choose an active customer template of the satisfaction survey."),
        )
    return template


def _apply_settings(row: SurveySettings, values: dict[str, Any]) -> None:
    unknown = sorted(set(values) - set(SETTINGS_FIELDS))
    if unknown:
        raise DomainError(
            "unknown_field", field=unknown[0], message=_("This field cannot be changed.")
        )
    if "is_enabled" in values:
        row.is_enabled = _bool(values["is_enabled"], "is_enabled")
    if "asks_comment" in values:
        row.asks_comment = _bool(values["asks_comment"], "asks_comment")
    if "delay_minutes" in values:
        row.delay_minutes = _whole(values["delay_minutes"], "delay_minutes", 0, MAX_DELAY_MINUTES)
    if "link_valid_days" in values:
        row.link_valid_days = _whole(values["link_valid_days"], "link_valid_days", 1, MAX_DAYS)
    if "editable_days" in values:
        row.editable_days = _whole(values["editable_days"], "editable_days", 0, MAX_DAYS)
    if "kind" in values:
        if values["kind"] not in Kind.values:
            raise DomainError(
                "invalid_choice",
                field="kind",
                message=_("Choose one of: %(choices)s."),
                params={"choices": ", ".join(Kind.values)},
            )
        row.kind = values["kind"]
    if "reasons" in values:
        row.reasons = clean_reasons(values["reasons"])
    if "channels" in values:
        row.channels = _channels(values["channels"])
    if "template" in values:
        row.template = _template(values["template"])


def _settings_snapshot(row: SurveySettings) -> dict[str, Any]:
    return audit.snapshot(row)


def _settings_payload(row: SurveySettings) -> dict[str, Any]:
    return {"id": row.pk, "business_line_id": row.business_line_id, "version": row.version}


@transaction.atomic
def create_settings(
    *, actor: Any, business_line: BusinessLine | None, values: dict[str, Any]
) -> SurveySettings:
    """Give a line its own survey settings (``business_line`` None: the default for all)."""
    _require_line(actor, ADD_SETTINGS, business_line)
    taken = (
        SurveySettings.objects.filter(business_line=business_line)
        if business_line is not None
        else SurveySettings.objects.filter(business_line__isnull=True)
    )
    if taken.exists():
        raise Conflict(
            "duplicate",
            field="business_line",
            message=_("This business line already has survey settings."),
        )
    row = built_in_settings()
    row.business_line = business_line
    _apply_settings(row, values)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        # Someone added the line's settings between the check above and this write.
        raise Conflict(
            "duplicate",
            field="business_line",
            message=_("This business line already has survey settings."),
        ) from None
    audit.record(actor=actor, action=Action.CREATED, obj=row, after=_settings_snapshot(row))
    outbox.emit("survey_settings.created", row, actor=actor, payload=_settings_payload(row))
    return row


@transaction.atomic
def update_settings(
    *,
    actor: Any,
    settings: SurveySettings,
    values: dict[str, Any],
    expected_version: int | None = None,
) -> SurveySettings:
    """Change survey settings; refused with 412 when ``expected_version`` is stale. Surveys
    already scheduled keep what they were created with."""
    rows = SurveySettings.objects.select_for_update(of=("self",)).select_related("business_line")
    locked = rows.get(pk=settings.pk)
    _require_line(actor, CHANGE_SETTINGS, locked.business_line)
    if expected_version is not None and locked.version != expected_version:
        raise PreconditionFailed(
            "version_mismatch",
            field="If-Match",
            message=_("Someone changed these settings since you opened them. Review their change."),
        )
    before = _settings_snapshot(locked)
    _apply_settings(locked, values)
    if _settings_snapshot(locked) == before:
        return locked
    locked.version += 1
    locked.updated_at = timezone.now()
    locked.save()
    audit.record_change(actor=actor, obj=locked, before=before)
    outbox.emit("survey_settings.updated", locked, actor=actor, payload=_settings_payload(locked))
    return locked


@transaction.atomic
def delete_settings(*, actor: Any, settings: SurveySettings) -> None:
    """Remove a line's own settings (it falls back to the default)."""
    _require_line(actor, DELETE_SETTINGS, settings.business_line)
    audit.record(
        actor=actor, action=Action.DELETED, obj=settings, before=_settings_snapshot(settings)
    )
    outbox.emit(
        "survey_settings.deleted", settings, actor=actor, payload=_settings_payload(settings)
    )
    settings.delete()


# --- Links --------------------------------------------------------------------------------------


def token_for(survey: Survey) -> str:
    """The signed token of the survey's link: its id and nonce, so it opens only this survey."""
    return signing.Signer(salt=SALT).sign_object([survey.pk, survey.nonce])


def survey_url(survey: Survey) -> str:
    """The absolute path of the survey page (``/survey/<token>/``)."""
    return reverse("surveys:answer", args=[token_for(survey)])


def survey_link(survey: Survey) -> str:
    """The survey page as notifications carry it: the site's base URL and the path."""
    # The same source of the site's address as the ticket links of notifications.
    base = getattr(django_settings, "AFTERSALES_BASE_URL", None) or os.environ.get(
        "AFTERSALES_BASE_URL", ""
    )
    return str(base).rstrip("/") + survey_url(survey)


def survey_for_token(token: str) -> Survey:
    """The survey a token names; NotFound for a forged, altered or foreign token."""
    try:
        value = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        raise NotFound("not_found") from None
    if not isinstance(value, list) or len(value) != 2:
        raise NotFound("not_found")
    pk, nonce = value
    if not isinstance(pk, int) or not isinstance(nonce, str):
        raise NotFound("not_found")
    survey = (
        Survey.objects.select_related("ticket", "ticket__business_line", "customer")
        .filter(pk=pk)
        .first()
    )
    if survey is None or not secrets.compare_digest(survey.nonce, nonce):
        raise NotFound("not_found")
    return survey


def is_expired(survey: Survey, now: datetime | None = None) -> bool:
    """Whether the link no longer opens the survey for answering (it still shows an answer)."""
    now = now or timezone.now()
    if survey.state == State.CANCELLED:
        return True
    if survey.state == State.ANSWERED:
        return False
    return now > survey.expires_at


def is_editable(survey: Survey, now: datetime | None = None) -> bool:
    """Whether an answer may be given or changed now."""
    now = now or timezone.now()
    if survey.state == State.CANCELLED:
        return False
    if survey.state == State.ANSWERED:
        until = survey.editable_until
        return until is not None and now <= until
    return now <= survey.expires_at


# --- Scheduling and sending ---------------------------------------------------------------------


def _language_of(ticket: Ticket) -> str:
    from aftersales.notifications.services import language_of

    return language_of(ticket.requester.portal_user)


def _copy_settings(survey: Survey, row: SurveySettings, now: datetime) -> None:
    survey.kind = row.kind
    survey.reasons_offered = list(row.reasons or [])
    survey.asks_comment = row.asks_comment
    survey.link_valid_days = row.link_valid_days
    survey.editable_days = row.editable_days
    survey.send_after = now + timedelta(minutes=row.delay_minutes)
    survey.expires_at = survey.send_after + timedelta(days=row.link_valid_days)


@transaction.atomic
def schedule_survey(*, ticket: Ticket, now: datetime | None = None) -> Survey | None:
    """Schedule the survey of a ticket that was just solved, once per ticket.

    A survey already scheduled, sent or answered stays as it is; one cancelled by a reopening
    is scheduled again with the line's current settings. Nothing happens when the line does
    not send surveys.
    """
    now = now or timezone.now()
    row = settings_for_line(ticket.business_line_id)
    survey = Survey.objects.select_for_update().filter(ticket=ticket).first()
    if survey is not None and survey.state != State.CANCELLED:
        return survey
    if not row.is_enabled:
        return survey
    created = survey is None
    if survey is None:
        survey = Survey(
            ticket=ticket,
            business_line_id=ticket.business_line_id,
            customer_id=ticket.requester_id,
            nonce=secrets.token_urlsafe(16),
            created_at=now,
        )
    survey.state = State.SCHEDULED
    survey.language = _language_of(ticket)
    _copy_settings(survey, row, now)
    if created:
        try:
            with transaction.atomic():
                survey.save()
        except IntegrityError:
            # Another delivery of the same change got there first.
            return Survey.objects.filter(ticket=ticket).first()
    else:
        survey.version += 1
        survey.save()
    outbox.emit("survey.scheduled", survey, payload=_survey_payload(survey))
    return survey


@transaction.atomic
def cancel_survey(*, ticket: Ticket) -> Survey | None:
    """Withdraw a survey not sent yet: the ticket was reopened before it went out."""
    survey = Survey.objects.select_for_update().filter(ticket=ticket, state=State.SCHEDULED).first()
    if survey is None:
        return None
    survey.state = State.CANCELLED
    survey.version += 1
    survey.save(update_fields=["state", "version"])
    outbox.emit("survey.cancelled", survey, payload=_survey_payload(survey))
    return survey


def on_ticket_status_changed(event: Any) -> None:
    """Outbox subscriber of ``ticket.status_changed``: schedule on solving, cancel on reopening.

    The ticket's current category decides (a late delivery of an old event must not undo a
    newer move); the event only says that something moved.
    """
    ticket = (
        Ticket.objects.select_related("requester__portal_user")
        .filter(pk=event.payload.get("ticket_id"))
        .first()
    )
    if ticket is None or ticket.merged_into_id is not None:
        return
    if ticket.status_category in SOLVED_CATEGORIES:
        schedule_survey(ticket=ticket)
    else:
        cancel_survey(ticket=ticket)


def _survey_template(row: SurveySettings) -> Any:
    from aftersales.notifications.choices import Event
    from aftersales.notifications.models import NotificationTemplate

    if row.template_id is not None and row.template is not None and row.template.is_active:
        return row.template
    return (
        NotificationTemplate.objects.filter(
            event=Event.SURVEY, is_active=True, audience=NotificationTemplate.Audience.CUSTOMER
        )
        .order_by(F("is_default").desc(), "pk")
        .first()
    )


@transaction.atomic
def send_survey(*, survey_id: int, now: datetime | None = None) -> bool:
    """Send one due survey, exactly once: the row is locked, moved to ``sent`` and the
    notification written in one transaction (a worker that dies rolls all of it back; one
    that finds the row taken or no longer scheduled does nothing). True when it was sent."""
    from aftersales.notifications import services as notifications

    now = now or timezone.now()
    survey = (
        Survey.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk=survey_id, state=State.SCHEDULED, send_after__lte=now)
        .first()
    )
    if survey is None:
        return False
    ticket = Ticket.objects.select_related(
        "requester__portal_user", "assignee", "team", "status", "ticket_type"
    ).get(pk=survey.ticket_id)
    if ticket.status_category not in SOLVED_CATEGORIES or ticket.merged_into_id is not None:
        survey.state = State.CANCELLED
        survey.version += 1
        survey.save(update_fields=["state", "version"])
        outbox.emit("survey.cancelled", survey, payload=_survey_payload(survey))
        return False
    survey.state = State.SENT
    survey.sent_at = now
    survey.expires_at = now + timedelta(days=survey.link_valid_days)
    survey.version += 1
    survey.save(update_fields=["state", "sent_at", "expires_at", "version"])
    row = settings_for_line(survey.business_line_id)
    template = _survey_template(row)
    sent: list[Any] = []
    if template is None:
        logger.warning(
            "No active survey template: survey %s only reachable in the portal", survey.pk
        )
    else:
        sent = list(
            notifications.notify_ticket(
                ticket=ticket,
                audiences=["requester"],
                template=template,
                channels=list(row.channels or ["email"]),
                reason="survey",
                extra={"survey.url": survey_link(survey)},
            )
        )
    audit.record(
        actor=None,
        action=Action.UPDATED,
        verb="survey_sent",
        obj=survey,
        after={"state": survey.state, "notifications": [n.pk for n in sent]},
    )
    outbox.emit(
        "survey.sent",
        survey,
        payload={**_survey_payload(survey), "notification_ids": [n.pk for n in sent]},
    )
    return True


def send_due_surveys(now: datetime | None = None) -> int:
    """The periodic job: send every scheduled survey whose delay has passed (a batch per run)."""
    now = now or timezone.now()
    due = list(
        Survey.objects.filter(state=State.SCHEDULED, send_after__lte=now)
        .order_by("send_after", "pk")
        .values_list("pk", flat=True)[:SEND_BATCH]
    )
    return sum(int(send_survey(survey_id=pk, now=now)) for pk in due)


# --- Answering ----------------------------------------------------------------------------------


def _survey_payload(survey: Survey) -> dict[str, Any]:
    return {
        "survey_id": survey.pk,
        "ticket_id": survey.ticket_id,
        "business_line_id": survey.business_line_id,
        "state": survey.state,
        "kind": survey.kind,
    }


def _require_may_answer(actor: Any, survey: Survey) -> None:
    """None: the caller proved the link. A contact: the ticket's requester. Staff: recording
    an answer given on the phone, with the permission, on a ticket they see."""
    if actor is None:
        return
    from aftersales.tickets.selectors import tickets_visible_to

    tickets = tickets_visible_to(actor).filter(pk=survey.ticket_id)
    if getattr(actor, "kind", None) == User.Kind.CUSTOMER:
        # The requester rates; colleagues who see the organisation's tickets do not.
        tickets = tickets.filter(requester__portal_user=actor)
    if not tickets.exists():
        raise NotFound("not_found")
    if getattr(actor, "kind", None) == User.Kind.CUSTOMER:
        return
    authz.require_permission(actor, RECORD_RESPONSE)


def _rating(survey: Survey, value: Any) -> int:
    low, high = survey.scale
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise DomainError(
            "invalid",
            field="rating",
            message=_("Choose a rating from %(low)s to %(high)s."),
            params={"low": low, "high": high},
        )
    rating = int(value)
    if not low <= rating <= high:
        raise DomainError(
            "out_of_range",
            field="rating",
            message=_("Choose a rating from %(low)s to %(high)s."),
            params={"low": low, "high": high},
        )
    return rating


def _comment(survey: Survey, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DomainError("invalid", field="comment", message=_("Enter text."))
    text = value.strip()
    if text and not survey.asks_comment:
        raise DomainError(
            "not_asked", field="comment", message=_("This survey does not take a comment.")
        )
    if len(text) > MAX_COMMENT:
        raise DomainError(
            "too_long",
            field="comment",
            message=_("Keep it under %(max)s characters."),
            params={"max": MAX_COMMENT},
        )
    return text


def _reasons(survey: Survey, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise DomainError("invalid", field="reasons", message=_("Choose reasons from the list."))
    offered = [reason["key"] for reason in survey.reasons_offered]
    unknown = [item for item in value if item not in offered]
    if unknown:
        raise DomainError(
            "invalid_choice",
            field="reasons",
            message=_("%(value)s is not one of the reasons offered."),
            params={"value": unknown[0][:40]},
        )
    return [key for key in offered if key in value]


@transaction.atomic
def answer_survey(
    *,
    survey: Survey,
    actor: Any = None,
    rating: Any = None,
    comment: Any = None,
    reasons: Any = None,
    expected_version: int | None = None,
) -> Survey:
    """Record the customer's answer, or change it within the edit window.

    The first answer needs a rating; a later one may change any part (a value left None keeps
    what was there). Writes the rating to the ticket, a timeline entry, an audit entry and
    ``survey.answered`` (which rules react to) in one transaction.
    """
    _require_may_answer(actor, survey)
    locked = Survey.objects.select_for_update(of=("self",)).get(pk=survey.pk)
    if expected_version is not None and locked.version != expected_version:
        raise PreconditionFailed(
            "version_mismatch",
            field="If-Match",
            message=_("This answer was changed since you opened it. Review it first."),
        )
    now = timezone.now()
    if locked.state == State.CANCELLED:
        raise Conflict(
            "survey_cancelled",
            message=_("The ticket was reopened, so this survey is no longer open."),
        )
    if not is_editable(locked, now):
        if locked.state == State.ANSWERED:
            raise LinkExpired(
                "answer_final",
                message=_("Your answer can no longer be changed. Thank you for it."),
            )
        raise LinkExpired("link_expired")
    first = locked.state != State.ANSWERED
    if rating is None and first:
        raise DomainError("required", field="rating", message=_("Choose a rating."))
    new_rating = _rating(locked, rating) if rating is not None else locked.rating
    new_comment = _comment(locked, comment) if comment is not None else locked.comment
    new_reasons = _reasons(locked, reasons) if reasons is not None else locked.reasons
    before = audit.snapshot(locked)
    old_rating = locked.rating
    if not first and (new_rating, new_comment, new_reasons) == (
        locked.rating,
        locked.comment,
        locked.reasons,
    ):
        return locked
    locked.rating = new_rating
    locked.comment = new_comment
    locked.reasons = new_reasons
    locked.state = State.ANSWERED
    locked.answered_at = locked.answered_at or now
    locked.answer_updated_at = now
    locked.version += 1
    locked.save(
        update_fields=[
            "rating", "comment", "reasons", "state", "answered_at", "answer_updated_at", "version"
        ]
    )  # fmt: skip
    person = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    rating_changed = first or old_rating != new_rating
    if rating_changed:
        Ticket.objects.filter(pk=locked.ticket_id).update(
            satisfaction=new_rating,
            satisfaction_at=now,
            version=F("version") + 1,
            updated_at=now,
        )
    changes: dict[str, list[Any]] = {"satisfaction": [old_rating, new_rating]}
    if new_comment != before.get("comment"):
        changes["satisfaction_comment"] = [before.get("comment") or None, new_comment or None]
    TicketEvent.objects.create(
        ticket_id=locked.ticket_id,
        actor=person,
        kind=TicketEvent.Kind.SATISFACTION_RATED,
        changes=changes,
        created_at=now,
    )
    changed_before, changed_after = audit.diff(before, audit.snapshot(locked))
    audit.record(
        actor=person,
        action=Action.CREATED if first else Action.UPDATED,
        verb="survey_answered",
        obj=locked,
        before=None if first else changed_before,
        after=changed_after,
    )
    from_customer = person is None or person.kind == User.Kind.CUSTOMER
    outbox.emit(
        "survey.answered",
        locked,
        actor=person,
        payload={
            **_survey_payload(locked),
            "rating": new_rating,
            "previous_rating": old_rating,
            "reasons": list(new_reasons),
            "has_comment": bool(new_comment),
            "is_first_answer": first,
            "from_customer": from_customer,
            # The change list rules read: "satisfaction changed to 1".
            "changes": {"satisfaction": [old_rating, new_rating]} if rating_changed else {},
        },
    )
    return locked
