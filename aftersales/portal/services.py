"""Portal sign-in and the customer's own actions on their requests.

A customer reaches the portal through a login of kind ``customer`` linked to their customer
record (``Customer.portal_user``). Channels that already know who the customer is (a WeChat
menu link, a secret tracking link) open a portal session for them without a password through
:func:`open_portal_session`; the login is created on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, User
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, PermissionDenied, TooManyRequests
from aftersales.customers import identities
from aftersales.customers import selectors as customer_selectors
from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.notifications import channels
from aftersales.portal.models import SignInCode
from aftersales.tickets.models import Comment, Ticket, TicketType
from aftersales.tickets.services import conversation
from aftersales.tickets.services import tickets as ticket_services

logger = logging.getLogger(__name__)

SESSION_BACKEND = "aftersales.accounts.backends.AccountBackend"


def _new_username(customer: Customer) -> str:
    return f"c{customer.pk}-{secrets.token_hex(4)}"


@transaction.atomic
def ensure_portal_login(*, customer: Customer) -> User:
    """The customer's portal login, created (without a usable password) when they have none.

    The e-mail and phone of the new login come from the customer's identities. Merged or
    inactive customers get no login.
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if not locked.is_active:
        raise DomainError("customer_inactive", field="customer")
    if locked.portal_user_id is not None:
        user = User.objects.get(pk=locked.portal_user_id)
        customer.portal_user = user
        return user
    identities = dict(
        locked.identities.filter(
            is_active=True, kind__in=[CustomerIdentity.Kind.EMAIL, CustomerIdentity.Kind.PHONE]
        )
        .order_by("-pk")
        .values_list("kind", "value")
    )
    user = User(
        username=_new_username(locked),
        kind=User.Kind.CUSTOMER,
        display_name=locked.name[:150],
        email=identities.get(CustomerIdentity.Kind.EMAIL, ""),
        phone=identities.get(CustomerIdentity.Kind.PHONE, "")[:32],
    )
    user.set_unusable_password()
    user.save()
    Customer.objects.filter(pk=locked.pk).update(portal_user=user)
    customer.portal_user = user
    audit.record(
        actor=None,
        action=AuditEntry.Action.CREATED,
        verb="portal_login_created",
        obj=locked,
        after={"portal_user": user.username},
    )
    return user


def open_portal_session(request: HttpRequest, *, customer: Customer) -> User:
    """Sign ``customer`` in to the portal in this browser, creating their login if needed.

    Only for callers that have already proved who the customer is (a verified one-time code,
    a platform's signed identity, a secret tracking link).
    """
    user = ensure_portal_login(customer=customer)
    if not user.is_active:
        raise DomainError("login_disabled", field="customer")
    login(request, user, backend=SESSION_BACKEND)
    return user


def portal_customer(user: Any) -> Customer | None:
    """The customer record behind a signed-in portal login, or None for anyone else."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if getattr(user, "kind", None) != User.Kind.CUSTOMER:
        return None
    return (
        Customer.objects.filter(portal_user=user, is_active=True)
        .select_related("business_line", "organisation", "tier")
        .first()
    )


# --- One-time sign-in codes -------------------------------------------------------------------

CODE_LIFETIME = timedelta(minutes=10)
CODE_ATTEMPTS = 5
CODES_PER_HOUR = 5


@dataclass(frozen=True)
class Address:
    """Where a sign-in code goes: an e-mail address or a phone number, normalised."""

    channel: str
    value: str


def parse_address(raw: Any) -> Address:
    """An e-mail address (anything with an @) or a phone number, normalised like identities."""
    text = str(raw or "").strip()
    if not text:
        raise DomainError(
            "required", field="address", message=_("Enter your e-mail address or phone number.")
        )
    kind = CustomerIdentity.Kind.EMAIL if "@" in text else CustomerIdentity.Kind.PHONE
    try:
        value = identities.normalise(kind, text)
    except DomainError:
        raise DomainError(
            "invalid_address",
            field="address",
            message=_("Enter a valid e-mail address or mobile phone number."),
        ) from None
    channel = SignInCode.Channel.EMAIL if kind == CustomerIdentity.Kind.EMAIL else "phone"
    return Address(channel=channel, value=value)


def _code_hash(address: Address, code: str) -> str:
    key = f"{settings.SECRET_KEY}:portal.sign_in_code".encode()
    return hmac.new(key, f"{address.value}:{code}".encode(), hashlib.sha256).hexdigest()


def request_sign_in_code(*, address: Any) -> bool:
    """Send a code to ``address`` when it belongs to a customer; answer the same either way.

    Returns whether a code was sent (for tests and logs; pages never tell the visitor, so the
    form cannot be used to find out who is a customer). At most ``CODES_PER_HOUR`` codes per
    address an hour.
    """
    parsed = parse_address(address)
    now = timezone.now()
    recent = SignInCode.objects.filter(
        address=parsed.value, created_at__gte=now - timedelta(hours=1)
    ).count()
    if recent >= CODES_PER_HOUR:
        raise TooManyRequests(
            "too_many_codes",
            field="address",
            message=_("Too many codes were sent to this address. Try again in an hour."),
        )
    kind = (
        CustomerIdentity.Kind.EMAIL
        if parsed.channel == SignInCode.Channel.EMAIL
        else CustomerIdentity.Kind.PHONE
    )
    customer = customer_selectors.find_customer_by_identity(kind, parsed.value)
    if customer is None:
        logger.info("portal sign-in code asked for an unknown address")
        return False
    code = f"{secrets.randbelow(1_000_000):06d}"
    with transaction.atomic():
        row = SignInCode.objects.create(
            channel=parsed.channel,
            address=parsed.value,
            customer=customer,
            code_hash=_code_hash(parsed, code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    _send_code(parsed, code, row)
    return True


def _send_code(address: Address, code: str, row: SignInCode) -> None:
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    text = _(
        "Your sign-in code for the service portal is %(code)s. It is valid for %(minutes)s "
        "minutes. If you did not ask for it, ignore this message."
    ) % {"code": code, "minutes": minutes}
    if address.channel == SignInCode.Channel.EMAIL:
        send_mail(
            subject=str(_("Your sign-in code: %(code)s") % {"code": code}),
            message=str(text),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[address.value],
            fail_silently=False,
        )
        return
    try:
        channels.send_sms_text(address.value, str(text), idempotency=f"portal-code-{row.pk}")
    except channels.ChannelError as error:
        raise DomainError(
            "sms_unavailable",
            field="address",
            message=_("We could not send a text message now. Use your e-mail address instead."),
        ) from error


def verify_sign_in_code(*, address: Any, code: Any) -> Customer:
    """The customer whose latest live code for ``address`` is ``code``; the code is used up.

    A wrong code counts against the code (committed even though the caller sees an error);
    after ``CODE_ATTEMPTS`` wrong tries the code is dead and a new one must be asked for.
    """
    parsed = parse_address(address)
    entered = "".join(ch for ch in str(code or "") if ch.isdigit())
    customer: Customer | None = None
    with transaction.atomic():
        row = (
            SignInCode.objects.select_for_update()
            .filter(address=parsed.value, used_at__isnull=True, expires_at__gt=timezone.now())
            .order_by("-created_at", "-pk")
            .first()
        )
        if row is not None and row.attempts < CODE_ATTEMPTS:
            if hmac.compare_digest(row.code_hash, _code_hash(parsed, entered)):
                row.used_at = timezone.now()
                row.save(update_fields=["used_at"])
                customer = Customer.objects.filter(pk=row.customer_id, is_active=True).first()
                if customer is not None:
                    audit.record(
                        actor=None,
                        action=AuditEntry.Action.LOGIN,
                        verb="login_code",
                        obj=customer,
                    )
            else:
                SignInCode.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
    if customer is None:
        raise DomainError(
            "invalid_code",
            field="code",
            message=_("This code is not correct or has expired. Ask for a new one."),
        )
    return customer


# --- Requests ---------------------------------------------------------------------------------


def ticket_types_for_portal() -> QuerySet[TicketType]:
    """The types a customer may choose on the portal: the active types of active lines that
    are offered there."""
    return (
        TicketType.objects.filter(is_active=True, on_portal=True, business_line__is_active=True)
        .select_related("business_line")
        .order_by("business_line__name", "position", "pk")
    )


def submit_request(
    *,
    actor: Any,
    ticket_type: TicketType,
    subject: Any,
    description: Any,
    custom_fields: dict[str, Any],
    files: Sequence[Any] = (),
) -> Ticket:
    """A signed-in customer files a request for themselves through the portal."""
    customer = portal_customer(actor)
    if customer is None:
        raise PermissionDenied("permission_denied")
    return ticket_services.create_ticket(
        actor=actor,
        ticket_type=ticket_type,
        requester=customer,
        subject=subject,
        description=description,
        channel=Ticket.Channel.PORTAL,
        custom_fields=custom_fields,
        audience="customer",
        files=files,
    )


@dataclass(frozen=True)
class AnonymousSubmission:
    ticket: Ticket
    tracking_path: str


@transaction.atomic
def submit_anonymous_request(
    *,
    ticket_type: TicketType,
    name: Any,
    email: Any,
    phone: Any,
    subject: Any,
    description: Any,
    custom_fields: dict[str, Any],
    files: Sequence[Any] = (),
    channel: str = Ticket.Channel.PORTAL,
) -> AnonymousSubmission:
    """A visitor without an account files a request and gets a secret tracking link.

    The customer is found by the e-mail address or phone given, or created. Finding someone
    gives the visitor nothing of theirs: the link opens this one request only, and signing in
    still needs a code sent to that address.
    """
    customer = find_or_create_customer(
        name=name, email=email, phone=phone, business_line=ticket_type.business_line
    )
    login_user = ensure_portal_login(customer=customer)
    ticket = ticket_services.create_ticket(
        actor=login_user,
        ticket_type=ticket_type,
        requester=customer,
        subject=subject,
        description=description,
        channel=channel,
        custom_fields=custom_fields,
        audience="customer",
        files=files,
    )
    return AnonymousSubmission(ticket=ticket, tracking_path=tracking_path(ticket))


def find_or_create_customer(
    *, name: Any, email: Any, phone: Any, business_line: BusinessLine
) -> Customer:
    """The customer holding this e-mail address (first) or phone, else a new one with both."""
    errors: dict[str, str] = {}
    found: Customer | None = None
    pairs: list[tuple[str, str]] = []
    for kind, raw, field in (
        (CustomerIdentity.Kind.EMAIL, email, "email"),
        (CustomerIdentity.Kind.PHONE, phone, "phone"),
    ):
        text = str(raw or "").strip()
        if not text:
            continue
        try:
            value = identities.normalise(kind, text)
        except DomainError as error:
            errors[field] = str(error.message)
            continue
        pairs.append((kind, value))
        found = found or customer_selectors.find_customer_by_identity(kind, value)
    if errors:
        field, message = next(iter(errors.items()))
        raise DomainError("invalid", field=field, message=message)
    if not pairs:
        raise DomainError(
            "required",
            field="email",
            message=_("Enter an e-mail address or a phone number so we can answer you."),
        )
    if found is not None:
        return found
    display = str(name or "").strip() or pairs[0][1]
    return customer_services.create_customer(
        actor=None,
        name=display[:200],
        business_line=business_line,
        identities=pairs,
    )


TRACKING_SALT = "aftersales.portal.tracking"


def tracking_path(ticket: Ticket) -> str:
    """The secret link that opens this one request without signing in."""
    token = signing.dumps({"t": ticket.pk, "r": ticket.requester_id}, salt=TRACKING_SALT)
    return reverse("portal:track", args=[token])


def ticket_for_tracking(token: str) -> Ticket | None:
    """The request a tracking token opens, or None for a forged, foreign or stale token."""
    try:
        data = signing.loads(token, salt=TRACKING_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    ticket_id, requester_id = data.get("t"), data.get("r")
    if not isinstance(ticket_id, int) or not isinstance(requester_id, int):
        return None
    return (
        Ticket.objects.select_related("ticket_type", "status", "requester")
        .filter(pk=ticket_id, requester_id=requester_id, merged_into__isnull=True)
        .first()
    )


def reply_by_tracking(*, ticket: Ticket, body: Any, files: Sequence[Any] = ()) -> Comment:
    """The requester answers through their tracking link (no login): a customer reply."""
    return conversation.add_comment(
        actor=None,
        ticket=ticket,
        body=body,
        is_public=True,
        channel=Ticket.Channel.PORTAL,
        files=files,
        author_customer=ticket.requester,
    )
