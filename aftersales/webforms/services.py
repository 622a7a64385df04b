"""Use cases of web forms: configuring them, and a visitor's submission becoming a ticket.

Configuration writes check the permission and the actor's reach (the form's business line or
team), validate, write, audit and emit in one transaction. A submission is anonymous: the
checks that stand in for a sign-in (origin, signed form token with a minimum fill time,
honeypot, rate limit per client address) are here too, so the page and the JSON API apply the
same ones.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.core import signing
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import Team
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core import richtext
from aftersales.core.errors import DomainError, NotFound, PermissionDenied, PreconditionFailed
from aftersales.customers import identities
from aftersales.customers import selectors as customer_selectors
from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.customfields import services as customfields
from aftersales.customfields.errors import FieldErrors
from aftersales.customfields.models import FieldDefinition
from aftersales.outbox import services as outbox
from aftersales.tickets import services as ticket_services
from aftersales.tickets.models import Ticket, TicketType, form_key_of
from aftersales.webforms.models import RateWindow, WebForm

logger = logging.getLogger(__name__)

Action = AuditEntry.Action
Scope = authz.Scope

VIEW = "webforms.view_webform"
ADD = "webforms.add_webform"
CHANGE = "webforms.change_webform"
DELETE = "webforms.delete_webform"

TICKET_TARGET = "tickets.ticket"
# Field types whose choices are the company's own people and records: never on a public page.
PRIVATE_FIELD_TYPES = frozenset({"user", "team", "customer"})
MAX_ORIGINS = 50
MAX_LIMIT = 10_000
MAX_NAME = 200
MAX_MESSAGE = 2000
MAX_CONTACT_NAME = 200
# A person takes longer than this to fill in a form; a script posting at once does not.
MIN_FILL_SECONDS = 3
# A page left open longer than this is sent again with a fresh token (nothing typed is lost).
TOKEN_MAX_AGE = timedelta(hours=12)
TOKEN_SALT = "aftersales.webforms.token"  # noqa: S105 (a namespace, not a secret)
RATE_WINDOW_GRACE = timedelta(minutes=5)

EDITABLE = (
    "name",
    "ticket_type",
    "team",
    "default_priority",
    "allowed_origins",
    "per_minute_limit",
    "per_hour_limit",
    "has_honeypot",
    "is_contact_required",
    "success_message_zh",
    "success_message_en",
    "is_active",
)


# --- Checks on configuration --------------------------------------------------------------------


def clean_origin(value: Any, *, field_name: str = "allowed_origins") -> str:
    """``https://Shop.Example.com/`` → ``https://shop.example.com``; anything with a path,
    query, credentials or another scheme is refused (an origin is scheme, host and port)."""
    invalid = DomainError(
        "invalid_origin",
        field=field_name,
        message=_("%(value)s is not an origin: enter scheme://host[:port], e.g. %(example)s."),
        params={"value": str(value)[:100], "example": "https://www.example.com"},
    )
    if not isinstance(value, str):
        raise invalid
    text = value.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise invalid from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or parts.password is not None
        or "*" in text
        or any(character.isspace() for character in text)
    ):
        raise invalid
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}[parts.scheme.lower()]
    suffix = f":{port}" if port is not None and port != default_port else ""
    return f"{parts.scheme.lower()}://{host}{suffix}"


def clean_origins(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list | tuple):
        raise DomainError("invalid", field="allowed_origins", message=_("Enter a list of origins."))
    result: list[str] = []
    for item in value:
        origin = clean_origin(item)
        if origin not in result:
            result.append(origin)
    if len(result) > MAX_ORIGINS:
        raise DomainError(
            "too_many",
            field="allowed_origins",
            message=_("Enter at most %(count)s origins."),
            params={"count": MAX_ORIGINS},
        )
    return result


def _text(value: Any, name: str, max_length: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError("invalid", field=name, message=_("Enter text."))
    value = value.strip()
    if required and not value:
        raise DomainError("required", field=name, message=_("This field is required."))
    if len(value) > max_length:
        raise DomainError(
            "too_long",
            field=name,
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": max_length},
        )
    return value


def _limit(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise DomainError(
            "invalid",
            field=name,
            message=_("Enter a whole number from 0 (no limit) to %(max)s."),
            params={"max": MAX_LIMIT},
        )
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise DomainError("invalid", field=name, message=_("Enter true or false."))
    return value


def _ticket_type(value: Any) -> TicketType:
    if not isinstance(value, TicketType):
        raise DomainError("required", field="ticket_type", message=_("Choose a ticket type."))
    if not value.is_active or not value.business_line.is_active:
        raise DomainError(
            "inactive_reference", field="ticket_type", message=_("This ticket type is inactive.")
        )
    return value


def _team(value: Any, ticket_type: TicketType) -> Team | None:
    if value is None:
        return None
    if not isinstance(value, Team) or not value.is_active:
        raise DomainError("invalid", field="team", message=_("Choose an active team."))
    if value.business_line_id != ticket_type.business_line_id:
        raise DomainError(
            "team_of_other_line",
            field="team",
            message=_("Choose a team of the ticket type's business line."),
        )
    return value


def _priority(value: Any) -> int:
    if isinstance(value, bool) or value not in Ticket.Priority.values:
        raise DomainError(
            "invalid_choice", field="default_priority", message=_("Choose a known priority.")
        )
    return int(value)


def reaches(actor: Any, codename: str, web_form: WebForm) -> bool:
    """Whether ``web_form`` as it stands in memory (maybe unsaved) lies inside the actor's
    scope for ``codename``: all forms, those of their business lines, or their teams'."""
    scope = authz.scope_for(actor, codename)
    if scope is None:
        return False
    if scope == Scope.ALL:
        return True
    rank = authz.SCOPE_RANK[scope]
    if (
        rank >= authz.SCOPE_RANK[Scope.TEAMS]
        and web_form.team_id is not None
        and web_form.team_id in authz.team_ids(actor)
    ):
        return True
    return rank >= authz.SCOPE_RANK[
        Scope.BUSINESS_LINES
    ] and web_form.ticket_type.business_line_id in authz.business_line_ids(actor)


def _require_reach(actor: Any, codename: str, web_form: WebForm) -> None:
    if not reaches(actor, codename, web_form):
        raise PermissionDenied(
            "outside_scope",
            field="ticket_type",
            message=_("Choose a ticket type of a business line (or a team) within your reach."),
        )


def _apply(web_form: WebForm, values: dict[str, Any]) -> None:
    """Check and set each named value on the (unsaved) form."""
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise DomainError("not_allowed", field=unknown[0], message=_("This field is not allowed."))
    if "name" in values:
        web_form.name = _text(values["name"], "name", MAX_NAME, required=True)
    if "ticket_type" in values:
        web_form.ticket_type = _ticket_type(values["ticket_type"])
    if "team" in values or "ticket_type" in values:
        team = values.get("team", web_form.team)
        web_form.team = _team(team, web_form.ticket_type)
    if "default_priority" in values:
        web_form.default_priority = _priority(values["default_priority"])
    if "allowed_origins" in values:
        web_form.allowed_origins = clean_origins(values["allowed_origins"])
    for name in ("per_minute_limit", "per_hour_limit"):
        if name in values:
            setattr(web_form, name, _limit(values[name], name))
    for name in ("has_honeypot", "is_contact_required", "is_active"):
        if name in values:
            setattr(web_form, name, _flag(values[name], name))
    for name in ("success_message_zh", "success_message_en"):
        if name in values:
            setattr(web_form, name, _text(values[name], name, MAX_MESSAGE))


def _payload(web_form: WebForm) -> dict[str, Any]:
    return {
        "web_form_id": web_form.pk,
        "ticket_type_id": web_form.ticket_type_id,
        "business_line_id": web_form.ticket_type.business_line_id,
        "version": web_form.version,
    }


@transaction.atomic
def create_web_form(*, actor: Any, values: dict[str, Any]) -> WebForm:
    """Publish a new form for a ticket type within the actor's reach; its key is random."""
    authz.require_permission(actor, ADD)
    if "ticket_type" not in values:
        raise DomainError("required", field="ticket_type", message=_("Choose a ticket type."))
    web_form = WebForm(created_by=actor if getattr(actor, "is_authenticated", False) else None)
    _apply(web_form, {"name": values.get("name"), **values})
    _require_reach(actor, ADD, web_form)
    web_form.save()
    audit.record(actor=actor, action=Action.CREATED, obj=web_form, after=web_form.snapshot())
    outbox.emit("webform.created", web_form, actor=actor, payload=_payload(web_form))
    return web_form


@transaction.atomic
def update_web_form(
    *,
    actor: Any,
    web_form: WebForm,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> WebForm:
    """Change a form. A stale ``expected_version`` is refused, and so is moving the form out
    of the actor's reach (to another line's type)."""
    authz.require_permission(actor, CHANGE, web_form)
    locked = WebForm.objects.select_for_update().select_related("ticket_type").get(pk=web_form.pk)
    if expected_version is not None and locked.version != expected_version:
        raise PreconditionFailed(
            "version_mismatch",
            field="If-Match",
            message=_("Someone changed this form since you opened it. Review their change."),
        )
    before = locked.snapshot()
    _apply(locked, changes)
    _require_reach(actor, CHANGE, locked)
    if locked.snapshot() == before:
        return locked
    locked.version += 1
    locked.save()
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=locked,
        before={k: v for k, v in before.items() if locked.snapshot()[k] != v},
        after={k: v for k, v in locked.snapshot().items() if before[k] != v},
    )
    outbox.emit("webform.updated", locked, actor=actor, payload=_payload(locked))
    return locked


@transaction.atomic
def rotate_key(*, actor: Any, web_form: WebForm) -> WebForm:
    """Give the form a new public key: embeds using the old one stop working (after a leak
    to a site that should no longer post)."""
    authz.require_permission(actor, CHANGE, web_form)
    locked = WebForm.objects.select_for_update().select_related("ticket_type").get(pk=web_form.pk)
    locked.key = secrets.token_urlsafe(16)
    locked.version += 1
    locked.save(update_fields=["key", "version", "updated_at"])
    audit.record(actor=actor, action=Action.UPDATED, obj=locked, verb="key_rotated")
    outbox.emit("webform.updated", locked, actor=actor, payload=_payload(locked))
    return locked


@transaction.atomic
def delete_web_form(*, actor: Any, web_form: WebForm) -> None:
    """Remove a form; its tickets stay (they only remember the channel)."""
    authz.require_permission(actor, DELETE, web_form)
    payload = _payload(web_form)
    snapshot = web_form.snapshot()
    audit.record(actor=actor, action=Action.DELETED, obj=web_form, before=snapshot)
    outbox.emit("webform.deleted", web_form, actor=actor, payload=payload)
    web_form.delete()


def unfillable_fields(web_form: WebForm) -> list[FieldDefinition]:
    """Required fields of the type a visitor cannot fill (staff-only or private types): while
    any is there, every submission would be refused. Shown as a warning on the settings page."""
    result = []
    for definition in customfields.definitions_for(
        TICKET_TARGET, form_key_of(web_form.ticket_type_id)
    ):
        public = public_definition(definition)
        if definition.is_required and not definition.visible_when and not public:
            result.append(definition)
    return result


# --- The public form ----------------------------------------------------------------------------


def public_definition(definition: FieldDefinition) -> bool:
    return (
        definition.customer_visible
        and definition.customer_editable
        and definition.field_type not in PRIVATE_FIELD_TYPES
    )


def public_definitions(web_form: WebForm) -> list[FieldDefinition]:
    """The type's fields a visitor sees and fills, in form order."""
    return [
        definition
        for definition in customfields.definitions_for(
            TICKET_TARGET, form_key_of(web_form.ticket_type_id)
        )
        if public_definition(definition)
    ]


def is_allowed_origin(web_form: WebForm, origin: str, *, own_origin: str) -> bool:
    """The form's own site (the iframe posting to itself) or one of the allowed origins."""
    try:
        cleaned = clean_origin(origin)
    except DomainError:
        return False
    return cleaned == clean_origin(own_origin) or cleaned in web_form.allowed_origins


def check_origin(
    web_form: WebForm, *, origin: str | None, referer: str | None, own_origin: str
) -> None:
    """Refuse a post whose ``Origin`` (or, without one, ``Referer``) names another site.

    Neither header is required (privacy tools strip them); the signed token still applies.
    """
    claimed = origin
    if not claimed and referer:
        parts = urlsplit(referer)
        claimed = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "null"
    if not claimed:
        return
    if not is_allowed_origin(web_form, claimed, own_origin=own_origin):
        logger.warning("Web form %s refused a post from origin %s", web_form.pk, claimed[:200])
        raise PermissionDenied(
            "origin_not_allowed",
            message=_("This form does not accept posts from this website."),
        )


RECEIPT_SALT = "aftersales.webforms.receipt"
RECEIPT_MAX_AGE = timedelta(days=1)


def issue_receipt(web_form: WebForm, ticket: Ticket | None) -> str:
    """A signed note of what was sent, for the answer page the visitor is redirected to (so
    reloading it shows the answer again instead of sending the form twice)."""
    signer = signing.TimestampSigner(salt=RECEIPT_SALT)
    return signer.sign_object({"f": web_form.pk, "n": ticket.number if ticket else None})


def read_receipt(web_form: WebForm, receipt: Any) -> tuple[bool, str | None]:
    """(valid, ticket number or None) of a receipt issued for this form in the last day."""
    signer = signing.TimestampSigner(salt=RECEIPT_SALT)
    if not isinstance(receipt, str) or not receipt:
        return False, None
    try:
        value = signer.unsign_object(receipt, max_age=RECEIPT_MAX_AGE)
    except signing.BadSignature:
        return False, None
    if not isinstance(value, dict) or value.get("f") != web_form.pk:
        return False, None
    number = value.get("n")
    return True, number if isinstance(number, str) else None


def issue_token(web_form: WebForm) -> str:
    """A signed, timestamped token naming the form: the page embeds it, the post returns it."""
    signer = signing.TimestampSigner(salt=TOKEN_SALT)
    return signer.sign_object({"f": web_form.pk, "n": secrets.token_urlsafe(8)})


def check_token(web_form: WebForm, token: Any, *, now: float | None = None) -> None:
    """Refuse a forged, foreign, expired or too quickly returned token (field ``token``)."""
    signer = signing.TimestampSigner(salt=TOKEN_SALT)
    if not isinstance(token, str) or not token:
        raise DomainError(
            "token_missing",
            field="token",
            message=_("The form could not be verified. Check your entries and send it again."),
        )
    try:
        value = signer.unsign_object(token, max_age=TOKEN_MAX_AGE)
        stamp = token.rsplit(":", 2)[1]
        issued = signing.b62_decode(stamp)
    except signing.SignatureExpired:
        raise DomainError(
            "token_expired",
            field="token",
            message=_("This page was open for a long time. Check your entries and send it again."),
        ) from None
    except (signing.BadSignature, ValueError):
        raise DomainError(
            "token_invalid",
            field="token",
            message=_("The form could not be verified. Check your entries and send it again."),
        ) from None
    if not isinstance(value, dict) or value.get("f") != web_form.pk:
        raise DomainError(
            "token_invalid",
            field="token",
            message=_("The form could not be verified. Check your entries and send it again."),
        )
    elapsed = (now if now is not None else time.time()) - issued
    if elapsed < MIN_FILL_SECONDS:
        raise DomainError(
            "too_fast",
            field="token",
            message=_("That was quicker than a person types. Wait a moment and send it again."),
        )


# --- Rate limit -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """The outcome of counting one post: allowed, or refused with the seconds to wait."""

    allowed: bool
    retry_after: int = 0


_UPSERT = (
    "INSERT INTO webforms_ratewindow (form_id, address, period, slot, hits, ends_at) "
    "VALUES (%s, %s, %s, %s, 1, %s) "
    "ON CONFLICT (form_id, address, period, slot) "
    "DO UPDATE SET hits = webforms_ratewindow.hits + 1 "
    "RETURNING hits"
)


def count_post(*, web_form: WebForm, address: str, now: float | None = None) -> Throttle:
    """Count one post from ``address`` in each of the form's windows and say whether it is
    within every limit.

    Each window is one row, incremented by a single INSERT … ON CONFLICT DO UPDATE … RETURNING
    (PostgreSQL and SQLite ≥ 3.35): concurrent posts in any number of web processes each get
    a distinct count, so exactly ``limit`` posts pass per window. Refused posts count too: a
    flood keeps the address blocked until its windows end. The count commits on its own,
    whatever becomes of the submission.
    """
    moment = now if now is not None else time.time()
    address = (address or "unknown")[:64]
    retry_after = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for period, limit in web_form.limits():
            slot = int(moment // period)
            ends = (slot + 1) * period
            ends_at = datetime.fromtimestamp(ends, tz=UTC)
            cursor.execute(_UPSERT, [web_form.pk, address, period, slot, ends_at])
            hits = cursor.fetchone()[0]
            if hits > limit:
                retry_after = max(retry_after, max(1, int(ends - moment + 0.999)))
    if retry_after:
        return Throttle(allowed=False, retry_after=retry_after)
    return Throttle(allowed=True)


def forget_rate_windows(*, batch: int = 5000) -> int:
    """Delete the counters of windows that ended a while ago (periodic)."""
    cutoff = timezone.now() - RATE_WINDOW_GRACE
    removed = 0
    while True:
        pks = list(
            RateWindow.objects.filter(ends_at__lt=cutoff).values_list("pk", flat=True)[:batch]
        )
        if not pks:
            return removed
        removed += RateWindow.objects.filter(pk__in=pks).delete()[0]


# --- Submission ---------------------------------------------------------------------------------


class SubmissionInvalid(DomainError):
    """Some entries of a submission were refused; :meth:`errors` names every one."""

    default_message = _("Some entries are not valid.")

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("invalid_submission", field=problems[0]["field"] if problems else None)

    def errors(self) -> list[dict[str, str]]:
        return list(self.problems)


@dataclass(frozen=True)
class Contact:
    """Who the visitor says they are. Nothing here is verified."""

    name: str = ""
    email: str = ""
    phone: str = ""


@dataclass
class Submission:
    """What the visitor is told: the message and, unless the post was caught as a bot's, the
    new ticket."""

    message: str
    ticket: Ticket | None = None
    problems: list[dict[str, str]] = field(default_factory=list)


def _problem(name: str, code: str, message: Any) -> dict[str, str]:
    return {"field": name, "code": code, "detail": str(message)}


def _clean_contact(web_form: WebForm, contact: Contact) -> tuple[Contact, list[dict[str, str]]]:
    problems: list[dict[str, str]] = []
    name = " ".join((contact.name or "").split())
    email = (contact.email or "").strip()
    phone = (contact.phone or "").strip()
    if len(name) > MAX_CONTACT_NAME:
        problems.append(
            _problem("name", "too_long", _("Enter at most %(max_length)s characters.")
                     % {"max_length": MAX_CONTACT_NAME})
        )  # fmt: skip
    if web_form.is_contact_required and not name:
        problems.append(_problem("name", "required", _("This field is required.")))
    if email:
        try:
            email = identities.normalise(CustomerIdentity.Kind.EMAIL, email, field="email")
        except DomainError as error:
            problems.append(_problem("email", error.code, error.detail()))
    if phone:
        try:
            phone = identities.normalise(CustomerIdentity.Kind.PHONE, phone, field="phone")
        except DomainError as error:
            problems.append(_problem("phone", error.code, error.detail()))
    if web_form.is_contact_required and not email and not phone:
        problems.append(
            _problem("email", "contact_required", _("Enter your e-mail address or phone number."))
        )
    return Contact(name=name, email=email, phone=phone), problems


def _clean_custom_fields(web_form: WebForm, values: Any) -> tuple[dict[str, Any], list[dict]]:
    try:
        cleaned = customfields.clean_values(
            target=TICKET_TARGET,
            subtarget=form_key_of(web_form.ticket_type_id),
            values=values if values is not None else {},
            existing=None,
            actor=None,
            audience="customer",
            definitions=public_definitions(web_form),
        )
    except FieldErrors as error:
        return {}, error.errors()
    return cleaned, []


def _requester(web_form: WebForm, contact: Contact) -> Customer:
    """The customer holding the e-mail (else the phone) given, or a new one on the form's
    business line. Identities are never added to an existing customer from an anonymous form:
    anyone can type anyone's address."""
    for kind, value in (
        (CustomerIdentity.Kind.EMAIL, contact.email),
        (CustomerIdentity.Kind.PHONE, contact.phone),
    ):
        if value:
            found = customer_selectors.find_customer_by_identity(kind, value)
            if found is not None:
                return found
    pairs = [
        (kind, value)
        for kind, value in (
            (CustomerIdentity.Kind.EMAIL, contact.email),
            (CustomerIdentity.Kind.PHONE, contact.phone),
        )
        if value
    ]
    name = contact.name or contact.email or contact.phone or str(_("Web visitor"))
    try:
        with transaction.atomic():
            return customer_services.create_customer(
                actor=None,
                name=name,
                business_line=web_form.ticket_type.business_line,
                identities=pairs,
            )
    except DomainError as error:
        if error.code != "identity_taken":
            raise
    # Another submission recorded the same person a moment ago.
    for kind, value in pairs:
        found = customer_selectors.find_customer_by_identity(kind, value)
        if found is not None:
            return found
    raise DomainError("identity_taken", field="email")


def success_message(web_form: WebForm, language: str) -> str:
    return web_form.success_message(language) or str(
        _("Thank you. We received your request and will get back to you.")
    )


def caught_by_honeypot(web_form: WebForm, value: Any) -> bool:
    """A filled honeypot: a bot. It is told "thank you" and nothing is created."""
    if web_form.has_honeypot and value:
        logger.warning("Web form %s: honeypot filled; nothing created", web_form.pk)
        return True
    return False


def _team_for_ticket(web_form: WebForm) -> Team | None:
    """The form's team; one deactivated since is dropped (routing then decides) rather than
    refusing the visitor for a setting they cannot see."""
    team = web_form.team
    if team is not None and not team.is_active:
        logger.warning("Web form %s names inactive team %s; filed without it", web_form.pk, team.pk)
        return None
    return team


def _plain(value: Any) -> str:
    """Visitors type plain text: keep it as typed (escaped, with its line breaks)."""
    if not isinstance(value, str) or not value.strip():
        return ""
    return richtext.from_plain_text(value)


@dataclass(frozen=True)
class Cleaned:
    contact: Contact
    subject: str
    custom_fields: dict[str, Any]


def clean_submission(
    *, web_form: WebForm, contact: Contact, subject: Any, custom_fields: Any
) -> Cleaned:
    """Check the contact, the subject and the type's customer fields; every refused entry is
    raised at once as :class:`SubmissionInvalid` (``custom_fields.<key>`` for the fields)."""
    cleaned_contact, problems = _clean_contact(web_form, contact)
    try:
        cleaned_subject = _text(subject, "subject", ticket_services.MAX_SUBJECT, required=True)
    except DomainError as error:
        problems.append(_problem("subject", error.code, error.detail()))
        cleaned_subject = ""
    values, field_problems = _clean_custom_fields(web_form, custom_fields)
    problems.extend(field_problems)
    if problems:
        raise SubmissionInvalid(problems)
    return Cleaned(contact=cleaned_contact, subject=cleaned_subject, custom_fields=values)


def submit(
    *,
    web_form: WebForm,
    contact: Contact,
    subject: Any,
    description: Any = "",
    custom_fields: Any = None,
    files: Sequence[Any] = (),
    honeypot: str = "",
    language: str = "en",
) -> Submission:
    """A visitor's post becomes a ticket of the form's type for the customer found by the
    contact's e-mail or phone, or a new customer. ``ticket.created`` then sends the usual
    "received" acknowledgement.

    Every refused entry is raised at once as :class:`SubmissionInvalid`. A filled honeypot
    gets the success message and creates nothing. The caller has checked the token, origin and
    rate limit; :func:`accept` does it all in order.
    """
    if not web_form.is_active or not web_form.ticket_type.is_active:
        raise NotFound("not_found")
    message = success_message(web_form, language)
    if caught_by_honeypot(web_form, honeypot):
        return Submission(message=message)
    cleaned = clean_submission(
        web_form=web_form, contact=contact, subject=subject, custom_fields=custom_fields
    )
    with transaction.atomic():
        requester = _requester(web_form, cleaned.contact)
        try:
            ticket = ticket_services.create_ticket(
                actor=None,
                ticket_type=web_form.ticket_type,
                requester=requester,
                subject=cleaned.subject,
                description=_plain(description),
                channel=Ticket.Channel.WEB_FORM,
                priority=web_form.default_priority,
                team=_team_for_ticket(web_form),
                custom_fields=cleaned.custom_fields,
                files=list(files),
            )
        except FieldErrors as error:
            # Only a field the visitor cannot fill gets here (a required staff-only field).
            logger.error("Web form %s cannot create tickets: %s", web_form.pk, error.errors())
            raise DomainError(
                "form_unavailable",
                message=_("This form cannot be sent right now. Please contact us another way."),
            ) from None
        except DomainError as error:
            if error.field == "files":
                raise SubmissionInvalid([_problem("files", error.code, error.detail())]) from None
            raise
    return Submission(message=message, ticket=ticket)
