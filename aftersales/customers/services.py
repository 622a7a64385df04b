"""Use cases of the customers domain. Every write to tiers, organisations, customers,
identities and notes happens here (imports in :mod:`aftersales.customers.importing`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import Conflict, DomainError, PermissionDenied
from aftersales.customers import identities as identity_rules
from aftersales.customers import selectors
from aftersales.customers.models import (
    Customer,
    CustomerIdentity,
    CustomerNote,
    CustomerTier,
    Organisation,
)
from aftersales.customers.selectors import find_customer_by_identity
from aftersales.customfields import services as customfields
from aftersales.outbox import services as outbox

__all__ = [
    "LinkResult",
    "MergeResult",
    "add_identity",
    "add_note",
    "create_customer",
    "create_organisation",
    "create_tier",
    "delete_tier",
    "find_customer_by_identity",
    "link_identity",
    "merge_customers",
    "remove_identity",
    "update_customer",
    "update_organisation",
    "update_tier",
]

Action = AuditEntry.Action
Scope = authz.Scope
MAX_TAGS = 30
MAX_TAG_LENGTH = 40
MAX_NOTE_LENGTH = 10_000
# The form-engine targets whose field definitions apply to organisations and customers.
ORGANISATION_TARGET = "customers.organisation"
CUSTOMER_TARGET = "customers.customer"


# --- Shared checks ---------------------------------------------------------------------------


def reaches(actor: Any, codename: str, obj: Customer | Organisation) -> bool:
    """Whether ``obj`` as it stands in memory (maybe unsaved) lies inside the actor's scope
    for ``codename``. Used before a write, so nobody creates or moves a row out of their reach."""
    scope = authz.scope_for(actor, codename)
    if scope is None:
        return False
    if scope == Scope.ALL:
        return True
    if obj.owner_id is not None and obj.owner_id == actor.pk:
        return True
    rank = authz.SCOPE_RANK[scope]
    team_id = getattr(obj, "team_id", None)
    if (
        rank >= authz.SCOPE_RANK[Scope.TEAMS]
        and team_id is not None
        and team_id in authz.team_ids(actor)
    ):
        return True
    return rank >= authz.SCOPE_RANK[
        Scope.BUSINESS_LINES
    ] and obj.business_line_id in authz.business_line_ids(actor)


def _require_reach(actor: Any, codename: str, obj: Customer | Organisation) -> None:
    if not reaches(actor, codename, obj):
        raise PermissionDenied(
            "outside_scope",
            field="business_line",
            message=_(
                "You could not see the result: choose a business line, team or account "
                "manager within your reach."
            ),
        )


def _required_text(value: Any, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("required", field=field, message=_("This field is required."))
    value = value.strip()
    if len(value) > max_length:
        raise DomainError(
            "too_long",
            field=field,
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": max_length},
        )
    return value


def clean_tags(value: Any, field: str = "tags") -> list[str]:
    """Trimmed, de-duplicated tags in their given order."""
    if not isinstance(value, list | tuple):
        raise DomainError("invalid", field=field, message=_("Enter a list of tags."))
    tags: list[str] = []
    for tag in value:
        if not isinstance(tag, str):
            raise DomainError("invalid", field=field, message=_("Enter a list of tags."))
        tag = tag.strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise DomainError(
                "tag_too_long",
                field=field,
                message=_("A tag has at most %(max_length)s characters."),
                params={"max_length": MAX_TAG_LENGTH},
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise DomainError(
            "too_many_tags",
            field=field,
            message=_("Enter at most %(count)s tags."),
            params={"count": MAX_TAGS},
        )
    return tags


def clean_custom_fields(
    value: Any, *, target: str, existing: dict[str, Any] | None, actor: Any
) -> dict[str, Any]:
    """The object's new custom-field values, checked against the fields configured for
    ``target`` (every refused field is reported at once, as ``custom_fields.<key>``)."""
    return customfields.clean_values(target=target, values=value, existing=existing, actor=actor)


def default_tier() -> CustomerTier:
    tier = CustomerTier.objects.filter(is_default=True).first()
    if tier is None:
        raise DomainError(
            "no_default_tier",
            field="tier",
            message=_("Choose a tier: no tier is marked as the default."),
        )
    return tier


def _check_line(line: BusinessLine) -> None:
    if not line.is_active:
        raise DomainError(
            "inactive_reference",
            field="business_line",
            message=_("This business line is inactive."),
        )


def _check_owner(owner: User | None) -> None:
    if owner is not None and (owner.kind != User.Kind.STAFF or not owner.is_active):
        raise DomainError(
            "invalid_owner",
            field="owner",
            message=_("The account manager must be an active staff member."),
        )


def _check_team(team: Team | None, line_id: int) -> None:
    if team is None:
        return
    if not team.is_active or team.business_line_id != line_id:
        raise DomainError(
            "invalid_team",
            field="team",
            message=_("Choose an active team of the customer's business line."),
        )


def _check_portal_user(user: User | None, customer_id: int | None) -> None:
    if user is None:
        return
    if user.kind != User.Kind.CUSTOMER:
        raise DomainError(
            "invalid_portal_user",
            field="portal_user",
            message=_("The portal login must be a customer contact account."),
        )
    taken = Customer.objects.filter(portal_user=user)
    if customer_id is not None:
        taken = taken.exclude(pk=customer_id)
    if taken.exists():
        raise DomainError(
            "portal_user_taken",
            field="portal_user",
            message=_("This login already belongs to another customer."),
        )


def _check_version(obj: Customer | Organisation, expected: int | None) -> None:
    if expected is not None and obj.version != expected:
        raise Conflict("version_mismatch", field="version")


def identity_taken_error(
    actor: Any, kind: str, value: str, holder: Customer, field: str
) -> DomainError:
    """The refusal of a duplicate identity; it names the holder only to someone who sees them."""
    label = CustomerIdentity.Kind(kind).label
    if selectors.customers_visible_to(actor).filter(pk=holder.pk).exists():
        return DomainError(
            "identity_taken",
            field=field,
            message=_("%(kind)s %(value)s already belongs to customer %(name)s (#%(id)s)."),
            params={"kind": label, "value": value, "name": holder.name, "id": holder.pk},
        )
    return DomainError(
        "identity_taken",
        field=field,
        message=_("%(kind)s %(value)s already belongs to another customer."),
        params={"kind": label, "value": value},
    )


# --- Tiers -------------------------------------------------------------------------------------


def _tier_fields(*, name_zh: Any, name_en: Any, rank: Any) -> dict[str, Any]:
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
        raise DomainError("invalid", field="rank", message=_("Enter a whole number of 0 or more."))
    return {
        "name_zh": _required_text(name_zh, "name_zh", 80),
        "name_en": _required_text(name_en, "name_en", 80),
        "rank": rank,
    }


@transaction.atomic
def create_tier(
    *,
    actor: Any,
    key: str,
    name_zh: str,
    name_en: str,
    rank: int = 0,
    is_default: bool = False,
) -> CustomerTier:
    """Add a tier. Making it the default takes the mark off the previous default."""
    authz.require_permission(actor, "customers.configure_customertier")
    key = _required_text(key, "key", 40)
    fields = _tier_fields(name_zh=name_zh, name_en=name_en, rank=rank)
    if CustomerTier.objects.filter(key=key).exists():
        raise DomainError("key_taken", field="key", message=_("This key is already used."))
    if is_default:
        CustomerTier.objects.filter(is_default=True).update(is_default=False)
    tier = CustomerTier.objects.create(key=key, is_default=is_default, **fields)
    audit.record(actor=actor, action=Action.CREATED, obj=tier, after=audit.snapshot(tier))
    outbox.emit("customertier.created", tier, actor=actor, payload={"key": tier.key})
    return tier


@transaction.atomic
def update_tier(*, actor: Any, tier: CustomerTier, changes: dict[str, Any]) -> CustomerTier:
    """Rename or re-rank a tier, or make it the default. The key never changes: rules use it."""
    authz.require_permission(actor, "customers.configure_customertier")
    unknown = set(changes) - {"name_zh", "name_en", "rank", "is_default"}
    if unknown:
        raise DomainError(
            "unknown_field", field=sorted(unknown)[0], message=_("This field cannot be changed.")
        )
    tier = CustomerTier.objects.select_for_update().get(pk=tier.pk)
    before = audit.snapshot(tier)
    fields = _tier_fields(
        name_zh=changes.get("name_zh", tier.name_zh),
        name_en=changes.get("name_en", tier.name_en),
        rank=changes.get("rank", tier.rank),
    )
    if "is_default" in changes:
        if changes["is_default"] is False and tier.is_default:
            raise DomainError(
                "default_required",
                field="is_default",
                message=_("Make another tier the default instead."),
            )
        if changes["is_default"] is True and not tier.is_default:
            CustomerTier.objects.filter(is_default=True).update(is_default=False)
            tier.is_default = True
    for name, value in fields.items():
        setattr(tier, name, value)
    tier.save(update_fields=["name_zh", "name_en", "rank", "is_default", "updated_at"])
    if audit.record_change(actor=actor, obj=tier, before=before):
        outbox.emit("customertier.updated", tier, actor=actor, payload={"key": tier.key})
    return tier


@transaction.atomic
def delete_tier(*, actor: Any, tier: CustomerTier) -> None:
    """Remove a tier nobody uses. The default tier cannot go: new customers need one."""
    authz.require_permission(actor, "customers.configure_customertier")
    if tier.is_default:
        raise DomainError(
            "default_required",
            field="is_default",
            message=_("The default tier cannot be deleted. Make another tier the default first."),
        )
    if tier.customers.exists() or tier.organisations.exists():
        raise DomainError(
            "tier_in_use",
            field="tier",
            message=_("Customers or organisations still have this tier."),
        )
    before = audit.snapshot(tier)
    audit.record(actor=actor, action=Action.DELETED, obj=tier, before=before)
    outbox.emit("customertier.deleted", tier, actor=actor, payload={"key": tier.key})
    tier.delete()


# --- Organisations -------------------------------------------------------------------------------


@transaction.atomic
def create_organisation(
    *,
    actor: Any,
    name: str,
    code: str,
    business_line: BusinessLine,
    tier: CustomerTier | None = None,
    owner: User | None = None,
    tags: Iterable[str] = (),
    notes: str = "",
    custom_fields: dict[str, Any] | None = None,
) -> Organisation:
    """Add a B2B account inside a business line the actor reaches."""
    authz.require_permission(actor, "customers.add_organisation")
    organisation = Organisation(
        name=_required_text(name, "name", 200),
        code=_required_text(code, "code", 60),
        business_line=business_line,
        tier=tier or default_tier(),
        owner=owner,
        tags=clean_tags(list(tags)),
        notes=notes or "",
        custom_fields=clean_custom_fields(
            custom_fields if custom_fields is not None else {},
            target=ORGANISATION_TARGET,
            existing=None,
            actor=actor,
        ),
    )
    _check_line(business_line)
    _check_owner(owner)
    _require_reach(actor, "customers.add_organisation", organisation)
    if Organisation.objects.filter(code=organisation.code).exists():
        raise DomainError("code_taken", field="code", message=_("This code is already used."))
    organisation.save()
    audit.record(
        actor=actor, action=Action.CREATED, obj=organisation, after=audit.snapshot(organisation)
    )
    outbox.emit(
        "organisation.created", organisation, actor=actor, payload={"code": organisation.code}
    )
    return organisation


ORGANISATION_EDITABLE = (
    "name",
    "code",
    "business_line",
    "tier",
    "owner",
    "tags",
    "notes",
    "custom_fields",
    "is_active",
)


@transaction.atomic
def update_organisation(
    *,
    actor: Any,
    organisation: Organisation,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> Organisation:
    """Change an organisation; ``expected_version`` refuses an edit based on a stale read."""
    authz.require_permission(actor, "customers.change_organisation", organisation)
    unknown = set(changes) - set(ORGANISATION_EDITABLE)
    if unknown:
        raise DomainError(
            "unknown_field", field=sorted(unknown)[0], message=_("This field cannot be changed.")
        )
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    _check_version(organisation, expected_version)
    before = audit.snapshot(organisation)
    if "name" in changes:
        organisation.name = _required_text(changes["name"], "name", 200)
    if "code" in changes:
        code = _required_text(changes["code"], "code", 60)
        if Organisation.objects.filter(code=code).exclude(pk=organisation.pk).exists():
            raise DomainError("code_taken", field="code", message=_("This code is already used."))
        organisation.code = code
    if "business_line" in changes:
        _check_line(changes["business_line"])
        organisation.business_line = changes["business_line"]
    if "tier" in changes:
        organisation.tier = changes["tier"] or default_tier()
    if "owner" in changes:
        _check_owner(changes["owner"])
        organisation.owner = changes["owner"]
    if "tags" in changes:
        organisation.tags = clean_tags(changes["tags"])
    if "notes" in changes:
        organisation.notes = changes["notes"] or ""
    if "custom_fields" in changes:
        organisation.custom_fields = clean_custom_fields(
            changes["custom_fields"],
            target=ORGANISATION_TARGET,
            existing=organisation.custom_fields,
            actor=actor,
        )
    if "is_active" in changes:
        organisation.is_active = bool(changes["is_active"])
    _require_reach(actor, "customers.change_organisation", organisation)
    organisation.version += 1
    organisation.save(update_fields=[*ORGANISATION_EDITABLE, "version", "updated_at"])
    if audit.record_change(actor=actor, obj=organisation, before=before):
        outbox.emit("organisation.updated", organisation, actor=actor)
    return organisation


# --- Customers ---------------------------------------------------------------------------------


def _normalised_identities(
    actor: Any, pairs: Iterable[tuple[str, str]], customer_id: int | None
) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    for kind, raw in pairs:
        value = identity_rules.normalise(kind, raw, field=kind)
        if (kind, value) in result:
            continue
        holder = selectors.identity_holder(kind, value, exclude_customer_id=customer_id)
        if holder is not None:
            raise identity_taken_error(actor, kind, value, holder, kind)
        result.append((kind, value))
    return result


@transaction.atomic
def create_customer(
    *,
    actor: Any,
    name: str,
    business_line: BusinessLine,
    organisation: Organisation | None = None,
    tier: CustomerTier | None = None,
    owner: User | None = None,
    team: Team | None = None,
    tags: Iterable[str] = (),
    notes: str = "",
    custom_fields: dict[str, Any] | None = None,
    portal_user: User | None = None,
    identities: Iterable[tuple[str, str]] = (),
) -> Customer:
    """Add a person. The tier defaults to the organisation's, then to the default tier.

    ``identities`` are (kind, raw value) pairs, stored normalised; one held by another active
    customer refuses the whole creation. No actor means the system: a channel recording a
    customer it met (a web-form visitor), which needs no permission and has no scope to keep.
    """
    if actor is not None:
        authz.require_permission(actor, "customers.add_customer")
    customer = Customer(
        name=_required_text(name, "name", 200),
        business_line=business_line,
        organisation=organisation,
        tier=tier or (organisation.tier if organisation is not None else None) or default_tier(),
        owner=owner,
        team=team,
        tags=clean_tags(list(tags)),
        notes=notes or "",
        custom_fields=clean_custom_fields(
            custom_fields if custom_fields is not None else {},
            target=CUSTOMER_TARGET,
            existing=None,
            actor=actor,
        ),
        portal_user=portal_user,
    )
    _check_line(business_line)
    _check_owner(owner)
    _check_team(team, business_line.pk)
    _check_portal_user(portal_user, None)
    if organisation is not None and not organisation.is_active:
        raise DomainError(
            "inactive_reference",
            field="organisation",
            message=_("This organisation is inactive."),
        )
    if actor is not None:
        _require_reach(actor, "customers.add_customer", customer)
    pairs = _normalised_identities(actor, identities, None)
    customer.save()
    try:
        with transaction.atomic():
            CustomerIdentity.objects.bulk_create(
                [CustomerIdentity(customer=customer, kind=k, value=v) for k, v in pairs]
            )
    except IntegrityError:
        raise DomainError(
            "identity_taken",
            field="identities",
            message=_("One of these identities was just taken by another customer."),
        ) from None
    after = audit.snapshot(customer)
    after["identities"] = [f"{k}:{v}" for k, v in pairs]
    audit.record(actor=actor, action=Action.CREATED, obj=customer, after=after)
    outbox.emit(
        "customer.created",
        customer,
        actor=actor,
        payload={"business_line_id": customer.business_line_id},
    )
    return customer


@transaction.atomic
def customer_for_channel(
    *, kind: str, value: str, name: str, business_line: BusinessLine, channel: str
) -> Customer:
    """The active customer holding (kind, value), or a new one a channel met for the first time.

    A channel (e-mail, WeChat…) acts for the system, so there is no permission check. Two
    messages from the same new sender at once make one customer: the loser of the race on the
    unique active identity returns the winner's record.
    """
    normalised = identity_rules.normalise(kind, value)
    existing = find_customer_by_identity(kind, normalised)
    if existing is not None:
        return existing
    customer = Customer(
        name=(name or normalised).strip()[:200] or normalised,
        business_line=business_line,
        tier=default_tier(),
    )
    try:
        with transaction.atomic():
            customer.save()
            CustomerIdentity.objects.create(customer=customer, kind=kind, value=normalised)
    except IntegrityError:
        winner = find_customer_by_identity(kind, normalised)
        if winner is None:
            raise
        return winner
    after = audit.snapshot(customer)
    after["identities"] = [f"{kind}:{normalised}"]
    after["channel"] = channel
    audit.record(actor=None, action=Action.CREATED, obj=customer, after=after)
    outbox.emit(
        "customer.created",
        customer,
        actor=None,
        payload={"business_line_id": customer.business_line_id, "channel": channel},
    )
    return customer


CUSTOMER_EDITABLE = (
    "name",
    "organisation",
    "tier",
    "business_line",
    "owner",
    "team",
    "tags",
    "notes",
    "custom_fields",
    "portal_user",
    "is_active",
)


def _set_active(actor: Any, customer: Customer, is_active: bool) -> None:
    if is_active == customer.is_active:
        return
    if is_active:
        if customer.merged_into_id is not None:
            raise DomainError(
                "customer_merged",
                field="is_active",
                message=_("A merged customer cannot be reactivated."),
            )
        for identity in customer.identities.all():
            holder = selectors.identity_holder(
                identity.kind, identity.value, exclude_customer_id=customer.pk
            )
            if holder is not None:
                raise identity_taken_error(
                    actor, identity.kind, identity.value, holder, "is_active"
                )
    customer.is_active = is_active
    customer.identities.update(is_active=is_active)


@transaction.atomic
def update_customer(
    *,
    actor: Any,
    customer: Customer,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> Customer:
    """Change a customer; ``expected_version`` refuses an edit based on a stale read.

    Deactivating releases the customer's identities for others; reactivating takes them back
    only if nobody holds them meanwhile.
    """
    authz.require_permission(actor, "customers.change_customer", customer)
    unknown = set(changes) - set(CUSTOMER_EDITABLE)
    if unknown:
        raise DomainError(
            "unknown_field", field=sorted(unknown)[0], message=_("This field cannot be changed.")
        )
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    _check_version(customer, expected_version)
    before = audit.snapshot(customer)
    if "name" in changes:
        customer.name = _required_text(changes["name"], "name", 200)
    if "organisation" in changes:
        organisation = changes["organisation"]
        if organisation is not None and not organisation.is_active:
            raise DomainError(
                "inactive_reference",
                field="organisation",
                message=_("This organisation is inactive."),
            )
        customer.organisation = organisation
    if "tier" in changes:
        customer.tier = changes["tier"] or default_tier()
    if "business_line" in changes:
        _check_line(changes["business_line"])
        customer.business_line = changes["business_line"]
    if "owner" in changes:
        _check_owner(changes["owner"])
        customer.owner = changes["owner"]
    if "team" in changes:
        customer.team = changes["team"]
    if "team" in changes or "business_line" in changes:
        _check_team(customer.team, customer.business_line_id)
    if "tags" in changes:
        customer.tags = clean_tags(changes["tags"])
    if "notes" in changes:
        customer.notes = changes["notes"] or ""
    if "custom_fields" in changes:
        customer.custom_fields = clean_custom_fields(
            changes["custom_fields"],
            target=CUSTOMER_TARGET,
            existing=customer.custom_fields,
            actor=actor,
        )
    if "portal_user" in changes:
        _check_portal_user(changes["portal_user"], customer.pk)
        customer.portal_user = changes["portal_user"]
    if "is_active" in changes:
        _set_active(actor, customer, bool(changes["is_active"]))
    _require_reach(actor, "customers.change_customer", customer)
    customer.version += 1
    customer.save(update_fields=[*CUSTOMER_EDITABLE, "version", "updated_at"])
    if audit.record_change(actor=actor, obj=customer, before=before):
        outbox.emit("customer.updated", customer, actor=actor)
    return customer


# --- Identities and notes ----------------------------------------------------------------------


@transaction.atomic
def add_identity(*, actor: Any, customer: Customer, kind: str, value: str) -> CustomerIdentity:
    """Give the customer one more way of reaching us; refused if someone active holds it.

    No actor means the system: a channel recording an identity the platform proved (the
    openid or unionid of a WeChat follower matched by a verified phone)."""
    if actor is not None:
        authz.require_permission(actor, "customers.change_customer", customer)
    normalised = identity_rules.normalise(kind, value)
    if customer.identities.filter(kind=kind, value=normalised).exists():
        raise DomainError(
            "identity_exists",
            field="value",
            message=_("The customer already has this identity."),
        )
    holder = selectors.identity_holder(kind, normalised, exclude_customer_id=customer.pk)
    if holder is not None:
        raise identity_taken_error(actor, kind, normalised, holder, "value")
    try:
        with transaction.atomic():
            identity = CustomerIdentity.objects.create(
                customer=customer, kind=kind, value=normalised, is_active=customer.is_active
            )
    except IntegrityError:
        raise DomainError(
            "identity_taken",
            field="value",
            message=_("This identity was just taken by another customer."),
        ) from None
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=customer,
        verb="identity_added",
        after={"identity": {"kind": kind, "value": normalised}},
    )
    outbox.emit(
        "customer.identity_added",
        customer,
        actor=actor,
        payload={"kind": kind, "value": normalised},
    )
    return identity


@transaction.atomic
def remove_identity(*, actor: Any, identity: CustomerIdentity) -> None:
    """Take an identity off its customer. The audit entry keeps what it was."""
    customer = identity.customer
    authz.require_permission(actor, "customers.change_customer", customer)
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=customer,
        verb="identity_removed",
        before={"identity": {"kind": identity.kind, "value": identity.value}},
    )
    outbox.emit(
        "customer.identity_removed",
        customer,
        actor=actor,
        payload={"kind": identity.kind, "value": identity.value},
    )
    identity.delete()


@transaction.atomic
def add_note(*, actor: Any, customer: Customer, body: str) -> CustomerNote:
    """Append a note to the customer's record. Notes are never edited afterwards."""
    authz.require_permission(actor, "customers.change_customer", customer)
    body = _required_text(body, "body", MAX_NOTE_LENGTH)
    note = CustomerNote.objects.create(customer=customer, author=actor, body=body)
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=customer,
        verb="note_added",
        after={"note": note.pk},
    )
    outbox.emit("customer.note_added", customer, actor=actor, payload={"note_id": note.pk})
    return note


# Ids a platform gives a sender, as opposed to an e-mail address or phone number a person owns.
PLATFORM_KINDS = (
    CustomerIdentity.Kind.WECHAT_OPENID,
    CustomerIdentity.Kind.WECHAT_UNIONID,
    CustomerIdentity.Kind.WECOM_EXTERNAL_ID,
    CustomerIdentity.Kind.DINGTALK_ID,
    CustomerIdentity.Kind.APP_USER_ID,
)


@dataclass(frozen=True)
class LinkResult:
    """What linking an identity did: moved it alone, or merged its whole customer."""

    customer: Customer
    identity: str
    merged_id: int | None


@transaction.atomic
def link_identity(*, actor: Any, identity: CustomerIdentity, customer: Customer) -> LinkResult:
    """Say that an identity (a WeChat openid a channel met) belongs to an existing customer.

    When its holder is known by platform ids only (a customer a channel created for an
    unknown sender: no e-mail, phone or organisation), the holder is merged into ``customer``:
    their tickets, notes and other ids follow and the merge is audited on both. Otherwise only
    the identity moves, audited on both customers.
    """
    holder = identity.customer
    authz.require_permission(actor, "customers.change_customer", holder)
    authz.require_permission(actor, "customers.change_customer", customer)
    if holder.pk == customer.pk:
        raise DomainError(
            "identity_exists",
            field="customer_id",
            message=_("The customer already has this identity."),
        )
    if not customer.is_active:
        raise DomainError(
            "inactive_reference", field="customer_id", message=_("This customer is inactive.")
        )
    label = f"{identity.kind}:{identity.value}"
    known_by_platform_ids_only = not holder.identities.exclude(kind__in=PLATFORM_KINDS).exists()
    if holder.is_active and known_by_platform_ids_only and holder.organisation_id is None:
        # A customer known by nothing but platform ids is one a channel created for an unknown
        # sender: changing both customers is enough to fold it into the one it really is.
        result = _merge(actor=actor, survivor=customer, merged=holder)
        return LinkResult(customer=result.survivor, identity=label, merged_id=holder.pk)
    kind, value = identity.kind, identity.value
    identity.delete()
    moved = CustomerIdentity.objects.create(
        customer=customer, kind=kind, value=value, is_active=customer.is_active
    )
    details = {"identity": {"kind": kind, "value": value}, "from": holder.pk, "to": customer.pk}
    audit.record(
        actor=actor, action=Action.UPDATED, obj=holder, verb="identity_unlinked", before=details
    )
    audit.record(
        actor=actor, action=Action.UPDATED, obj=customer, verb="identity_linked", after=details
    )
    outbox.emit(
        "customer.identity_linked",
        customer,
        actor=actor,
        payload={"kind": kind, "value": value, "from_customer_id": holder.pk},
    )
    return LinkResult(customer=customer, identity=f"{moved.kind}:{moved.value}", merged_id=None)


# --- Merge -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeResult:
    survivor: Customer
    merged: Customer
    identities_moved: list[str]
    identities_kept: list[str]
    notes_moved: int


@transaction.atomic
def merge_customers(*, actor: Any, survivor: Customer, merged: Customer) -> MergeResult:
    """Fold ``merged`` into ``survivor``: the same person known twice becomes one.

    Identities and notes move to the survivor and tags are unioned; an identity someone else
    took meanwhile stays behind, inactive. The merged row stays, inactive and pointing at the
    survivor, so old links resolve. Both get an audit entry, and ``customer.merged`` carries
    both ids so other modules (tickets) can move their rows.
    """
    authz.require_permission(actor, "customers.merge_customer", survivor)
    authz.require_permission(actor, "customers.merge_customer", merged)
    return _merge(actor=actor, survivor=survivor, merged=merged)


def _merge(*, actor: Any, survivor: Customer, merged: Customer) -> MergeResult:
    """The merge itself, once the caller has checked the actor may do it."""
    if survivor.pk == merged.pk:
        raise DomainError(
            "merge_into_itself",
            field="merged_id",
            message=_("A customer cannot be merged into itself."),
        )
    first, second = sorted([survivor.pk, merged.pk])
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[first, second])}
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    if merged.merged_into_id is not None or survivor.merged_into_id is not None:
        raise DomainError(
            "customer_merged",
            field="merged_id",
            message=_("This customer was already merged into another."),
        )
    if not survivor.is_active:
        raise DomainError(
            "inactive_survivor",
            field="survivor",
            message=_("The surviving customer must be active."),
        )
    if (
        survivor.business_line_id != merged.business_line_id
        and authz.scope_for(actor, "customers.merge_customer") != Scope.ALL
    ):
        lines = authz.business_line_ids(actor)
        if survivor.business_line_id not in lines or merged.business_line_id not in lines:
            raise PermissionDenied(
                "merge_across_lines",
                field="merged_id",
                message=_("You may only merge customers of business lines you belong to."),
            )
    preview = selectors.merge_preview(survivor, merged)
    moved = [f"{i.kind}:{i.value}" for i in preview.identities_moving]
    kept = [f"{i.kind}:{i.value}" for i in preview.identities_staying]
    survivor_before = audit.snapshot(survivor)
    merged_before = audit.snapshot(merged)

    CustomerIdentity.objects.filter(pk__in=[i.pk for i in preview.identities_staying]).update(
        is_active=False
    )
    CustomerIdentity.objects.filter(pk__in=[i.pk for i in preview.identities_moving]).update(
        customer=survivor, is_active=True
    )
    notes_moved = CustomerNote.objects.filter(customer=merged).update(customer=survivor)

    survivor.tags = [*survivor.tags, *preview.tags_added]
    update = ["tags", "version", "updated_at"]
    if survivor.organisation_id is None and merged.organisation_id is not None:
        survivor.organisation_id = merged.organisation_id
        update.append("organisation")
    portal_user_id = merged.portal_user_id
    if survivor.portal_user_id is None and portal_user_id is not None:
        # The person's portal login follows them; a OneToOne must be freed first.
        merged.portal_user = None
        merged.save(update_fields=["portal_user"])
        survivor.portal_user_id = portal_user_id
        update.append("portal_user")
    survivor.version += 1
    survivor.save(update_fields=update)

    merged.merged_into = survivor
    merged.is_active = False
    merged.version += 1
    merged.save(update_fields=["merged_into", "is_active", "version", "updated_at"])

    details = {
        "survivor_id": survivor.pk,
        "merged_id": merged.pk,
        "identities_moved": moved,
        "identities_kept": kept,
        "notes_moved": notes_moved,
    }
    survivor_change_before, survivor_change_after = audit.diff(
        survivor_before, audit.snapshot(survivor)
    )
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=survivor,
        verb="merged",
        before=survivor_change_before,
        after={**survivor_change_after, **details},
    )
    merged_change_before, merged_change_after = audit.diff(merged_before, audit.snapshot(merged))
    audit.record(
        actor=actor,
        action=Action.UPDATED,
        obj=merged,
        verb="merged_into",
        before=merged_change_before,
        after={**merged_change_after, **details},
    )
    outbox.emit(
        "customer.merged",
        survivor,
        actor=actor,
        payload={"survivor_id": survivor.pk, "merged_id": merged.pk},
    )
    return MergeResult(
        survivor=survivor,
        merged=merged,
        identities_moved=moved,
        identities_kept=kept,
        notes_moved=notes_moved,
    )
