"""API for organisations, customers, their identities and notes, tiers, import and export."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile

from aftersales.accounts import authz
from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.api.common import PageOut, PreconditionFailed, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.api.problems import problem
from aftersales.core.errors import DomainError
from aftersales.customers import exporting, importing, selectors, services
from aftersales.customers.models import (
    Customer,
    CustomerIdentity,
    CustomerNote,
    CustomerTier,
    Organisation,
)

router = Router(tags=["customers"])

IdentityKind = CustomerIdentity.Kind

# --- Schemas -----------------------------------------------------------------------------------


class TierOut(Schema):
    id: int
    key: str
    name_zh: str
    name_en: str
    rank: int
    is_default: bool


class TierIn(Schema):
    key: str = Field(..., min_length=1, max_length=40, pattern=r"^[-a-zA-Z0-9_]+$")
    name_zh: str = Field(..., min_length=1, max_length=80)
    name_en: str = Field(..., min_length=1, max_length=80)
    rank: int = Field(0, ge=0)
    is_default: bool = False


class TierPatch(Schema):
    name_zh: str | None = Field(None, min_length=1, max_length=80)
    name_en: str | None = Field(None, min_length=1, max_length=80)
    rank: int | None = Field(None, ge=0)
    is_default: bool | None = None


class OrganisationOut(Schema):
    id: int
    name: str
    code: str
    tier: str
    tier_id: int
    business_line_id: int
    owner_id: int | None
    tags: list[str]
    notes: str
    custom_fields: dict[str, Any]
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class OrganisationIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    code: str = Field(..., min_length=1, max_length=60, pattern=r"^[-a-zA-Z0-9_]+$")
    business_line_id: int
    tier_id: int | None = None
    owner_id: int | None = None
    tags: list[str] = []
    notes: str = ""
    custom_fields: dict[str, Any] = {}


class OrganisationPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    code: str | None = Field(None, min_length=1, max_length=60, pattern=r"^[-a-zA-Z0-9_]+$")
    business_line_id: int | None = None
    tier_id: int | None = None
    owner_id: int | None = None
    tags: list[str] | None = None
    notes: str | None = None
    custom_fields: dict[str, Any] | None = None
    is_active: bool | None = None


class IdentityOut(Schema):
    id: int
    kind: str
    value: str
    is_active: bool


class IdentityIn(Schema):
    kind: IdentityKind
    value: str = Field(..., min_length=1, max_length=254)


class CustomerOut(Schema):
    id: int
    name: str
    organisation_id: int | None
    tier: str
    tier_id: int
    business_line_id: int
    owner_id: int | None
    team_id: int | None
    tags: list[str]
    notes: str
    custom_fields: dict[str, Any]
    portal_user_id: int | None
    merged_into_id: int | None
    is_active: bool
    identities: list[IdentityOut]
    version: int
    created_at: datetime
    updated_at: datetime


class CustomerIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    business_line_id: int
    organisation_id: int | None = None
    tier_id: int | None = None
    owner_id: int | None = None
    team_id: int | None = None
    tags: list[str] = []
    notes: str = ""
    custom_fields: dict[str, Any] = {}
    portal_user_id: int | None = None
    identities: list[IdentityIn] = []


class CustomerPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    business_line_id: int | None = None
    organisation_id: int | None = None
    tier_id: int | None = None
    owner_id: int | None = None
    team_id: int | None = None
    tags: list[str] | None = None
    notes: str | None = None
    custom_fields: dict[str, Any] | None = None
    portal_user_id: int | None = None
    is_active: bool | None = None


class NoteOut(Schema):
    id: int
    customer_id: int
    author_id: int | None
    body: str
    created_at: datetime


class NoteIn(Schema):
    body: str = Field(..., min_length=1, max_length=services.MAX_NOTE_LENGTH)


class MergeIn(Schema):
    merged_id: int


class LinkIdentityIn(Schema):
    customer_id: int


class LinkIdentityOut(Schema):
    customer_id: int
    identity: str
    merged_id: int | None


class MergeOut(Schema):
    survivor: CustomerOut
    merged_id: int
    identities_moved: list[str]
    identities_kept: list[str]
    notes_moved: int


class ListQuery(Schema):
    cursor: str | None = None
    limit: int | None = Field(None, ge=1, le=200)
    q: str | None = Field(None, max_length=100)


class OrganisationListQuery(ListQuery):
    tier: str | None = Field(None, max_length=40, description="Tier key.")
    tag: str | None = Field(None, max_length=40)
    business_line: int | None = None
    is_active: bool | None = None


class CustomerListQuery(OrganisationListQuery):
    organisation: int | None = None


class ExportQuery(Schema):
    format: Literal["csv", "xlsx"] = "csv"


class ImportRowErrorOut(Schema):
    row: int
    field: str
    code: str
    detail: str


class ImportOut(Schema):
    created: int
    rows: int


# --- Serialisation ------------------------------------------------------------------------------


def organisation_out(organisation: Organisation) -> dict[str, Any]:
    return {
        "id": organisation.pk,
        "name": organisation.name,
        "code": organisation.code,
        "tier": organisation.tier.key,
        "tier_id": organisation.tier_id,
        "business_line_id": organisation.business_line_id,
        "owner_id": organisation.owner_id,
        "tags": organisation.tags,
        "notes": organisation.notes,
        "custom_fields": organisation.custom_fields,
        "is_active": organisation.is_active,
        "version": organisation.version,
        "created_at": organisation.created_at,
        "updated_at": organisation.updated_at,
    }


def customer_out(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.pk,
        "name": customer.name,
        "organisation_id": customer.organisation_id,
        "tier": customer.tier.key,
        "tier_id": customer.tier_id,
        "business_line_id": customer.business_line_id,
        "owner_id": customer.owner_id,
        "team_id": customer.team_id,
        "tags": customer.tags,
        "notes": customer.notes,
        "custom_fields": customer.custom_fields,
        "portal_user_id": customer.portal_user_id,
        "merged_into_id": customer.merged_into_id,
        "is_active": customer.is_active,
        "identities": [
            {"id": i.pk, "kind": i.kind, "value": i.value, "is_active": i.is_active}
            for i in customer.identities.all()
        ],
        "version": customer.version,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
    }


def _customers(viewer: Any) -> QuerySet[Customer]:
    return selectors.customers_visible_to(viewer).prefetch_related(
        Prefetch("identities", queryset=CustomerIdentity.objects.order_by("kind", "value", "pk"))
    )


def _customer(viewer: Any, customer_id: int) -> Customer:
    return get_object_or_404(_customers(viewer), pk=customer_id)


def _organisation(viewer: Any, organisation_id: int) -> Organisation:
    return get_object_or_404(selectors.organisations_visible_to(viewer), pk=organisation_id)


def _unknown_reference(field: str) -> DomainError:
    return DomainError(
        "unknown_reference",
        field=field,
        message=_("The referenced object does not exist."),
    )


def _resolve(queryset: QuerySet[Any], pk: int | None, field: str) -> Any:
    if pk is None:
        return None
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise _unknown_reference(field)
    return found


def _references(viewer: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Turn ``*_id`` fields of a body into objects. Scope is checked by the service on the
    result; organisations must be visible to the caller."""
    resolved: dict[str, Any] = {}
    sources: dict[str, QuerySet[Any]] = {
        "business_line_id": BusinessLine.objects.all(),
        "organisation_id": selectors.organisations_visible_to(viewer),
        "tier_id": CustomerTier.objects.all(),
        "owner_id": User.objects.filter(kind=User.Kind.STAFF),
        "team_id": Team.objects.all(),
        "portal_user_id": User.objects.filter(kind=User.Kind.CUSTOMER),
    }
    for key, value in data.items():
        if key in sources:
            resolved[key.removesuffix("_id")] = _resolve(sources[key], value, key)
        else:
            resolved[key] = value
    return resolved


def _changes(payload: Schema, nullable: frozenset[str]) -> dict[str, Any]:
    changes = payload.dict(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise DomainError(
                "null_not_allowed", field=field, message=_("This field cannot be null.")
            )
    return changes


def _check_if_match(request: HttpRequest, version: int) -> int | None:
    expected = expected_version(request)
    if expected is not None and expected != version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    return expected


# --- Tiers -------------------------------------------------------------------------------------


@router.get("/customer-tiers", response=list[TierOut], tags=["customer tiers"])
def list_tiers(request: HttpRequest) -> list[CustomerTier]:
    return list(selectors.tiers_visible_to(request.user))


@router.post("/customer-tiers", response={201: TierOut}, tags=["customer tiers"])
def create_tier(request: HttpRequest, payload: TierIn) -> Status[CustomerTier]:
    tier = services.create_tier(actor=request.user, **payload.dict())
    return Status(201, tier)


@router.patch("/customer-tiers/{tier_id}", response=TierOut, tags=["customer tiers"])
def update_tier(request: HttpRequest, tier_id: int, payload: TierPatch) -> CustomerTier:
    tier = get_object_or_404(selectors.tiers_visible_to(request.user), pk=tier_id)
    return services.update_tier(
        actor=request.user, tier=tier, changes=_changes(payload, frozenset())
    )


@router.delete("/customer-tiers/{tier_id}", response={204: None}, tags=["customer tiers"])
def delete_tier(request: HttpRequest, tier_id: int) -> Status[None]:
    tier = get_object_or_404(selectors.tiers_visible_to(request.user), pk=tier_id)
    services.delete_tier(actor=request.user, tier=tier)
    return Status(204, None)


# --- Organisations -------------------------------------------------------------------------------


@router.get("/organisations", response=PageOut[OrganisationOut], tags=["organisations"])
def list_organisations(
    request: HttpRequest, filters: Query[OrganisationListQuery]
) -> dict[str, Any]:
    organisations = selectors.organisations_visible_to(request.user)
    if filters.q:
        organisations = organisations.filter(
            Q(name__icontains=filters.q) | Q(code__icontains=filters.q)
        )
    if filters.tier:
        organisations = organisations.filter(tier__key=filters.tier)
    if filters.tag:
        organisations = organisations.filter(selectors.tag_filter(filters.tag))
    if filters.business_line is not None:
        organisations = organisations.filter(business_line_id=filters.business_line)
    if filters.is_active is not None:
        organisations = organisations.filter(is_active=filters.is_active)
    page = paginate(organisations, cursor=filters.cursor, limit=filters.limit)
    return {
        "items": [organisation_out(o) for o in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post("/organisations", response={201: OrganisationOut}, tags=["organisations"])
def create_organisation(request: HttpRequest, payload: OrganisationIn) -> Status[dict[str, Any]]:
    authz.require_permission(request.user, "customers.add_organisation")
    data = _references(request.user, payload.dict())
    organisation = services.create_organisation(actor=request.user, **data)
    return Status(201, organisation_out(_organisation(request.user, organisation.pk)))


@router.get("/organisations/{organisation_id}", response=OrganisationOut, tags=["organisations"])
def get_organisation(
    request: HttpRequest, organisation_id: int, response: HttpResponse
) -> dict[str, Any]:
    organisation = _organisation(request.user, organisation_id)
    response["ETag"] = etag_of(organisation.version)
    return organisation_out(organisation)


@router.patch(
    "/organisations/{organisation_id}",
    response=OrganisationOut,
    tags=["organisations"],
    summary="Change an organisation (send If-Match to refuse stale edits)",
)
def update_organisation(
    request: HttpRequest, organisation_id: int, payload: OrganisationPatch, response: HttpResponse
) -> dict[str, Any]:
    organisation = _organisation(request.user, organisation_id)
    version = _check_if_match(request, organisation.version)
    changes = _changes(payload, frozenset({"owner_id", "tier_id"}))
    organisation = services.update_organisation(
        actor=request.user,
        organisation=organisation,
        changes=_references(request.user, changes),
        expected_version=version,
    )
    organisation = _organisation(request.user, organisation.pk)
    response["ETag"] = etag_of(organisation.version)
    return organisation_out(organisation)


# --- Customers ---------------------------------------------------------------------------------


@router.get("/customers", response=PageOut[CustomerOut])
def list_customers(request: HttpRequest, filters: Query[CustomerListQuery]) -> dict[str, Any]:
    customers = _customers(request.user)
    if filters.q:
        customers = customers.filter(
            Q(name__icontains=filters.q)
            | Q(
                pk__in=CustomerIdentity.objects.filter(value__icontains=filters.q).values(
                    "customer_id"
                )
            )
        )
    if filters.organisation is not None:
        customers = customers.filter(organisation_id=filters.organisation)
    if filters.tier:
        customers = customers.filter(tier__key=filters.tier)
    if filters.tag:
        customers = customers.filter(selectors.tag_filter(filters.tag))
    if filters.business_line is not None:
        customers = customers.filter(business_line_id=filters.business_line)
    if filters.is_active is not None:
        customers = customers.filter(is_active=filters.is_active)
    page = paginate(customers, cursor=filters.cursor, limit=filters.limit)
    return {"items": [customer_out(c) for c in page.items], "next_cursor": page.next_cursor}


@router.post("/customers", response={201: CustomerOut})
def create_customer(request: HttpRequest, payload: CustomerIn) -> Status[dict[str, Any]]:
    authz.require_permission(request.user, "customers.add_customer")
    data = payload.dict()
    pairs = [(i["kind"], i["value"]) for i in data.pop("identities")]
    customer = services.create_customer(
        actor=request.user, identities=pairs, **_references(request.user, data)
    )
    return Status(201, customer_out(_customer(request.user, customer.pk)))


@router.get(
    "/customers/export",
    response={200: None},
    summary="The customers you may export, as CSV or Excel",
)
def export_customers(request: HttpRequest, query: Query[ExportQuery]) -> HttpResponse:
    exported = exporting.export_customers(actor=request.user, format=query.format)
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response


@router.post(
    "/customers/import",
    response={201: ImportOut},
    summary="Import customers from CSV or Excel: all rows or none (422 lists every bad row)",
)
def import_customers(
    request: HttpRequest, file: File[UploadedFile], format: str | None = None
) -> Any:
    authz.require_permission(request.user, "customers.add_customer")
    name = (file.name or "").lower()
    chosen = format or ("xlsx" if name.endswith(".xlsx") else "csv")
    report = importing.import_customers(actor=request.user, file=file, format=chosen)
    if not report.is_success:
        bad_rows = len({e.row for e in report.errors})
        return problem(
            request,
            status=422,
            code="import_invalid",
            detail=ngettext(
                "%(count)s row has errors; nothing was imported.",
                "%(count)s rows have errors; nothing was imported.",
                bad_rows,
            )
            % {"count": bad_rows},
            errors=[
                {"row": e.row, "field": e.field, "code": e.code, "detail": e.message}
                for e in report.errors
            ],
        )
    return Status(201, {"created": report.created, "rows": report.rows})


@router.get("/customers/{customer_id}", response=CustomerOut)
def get_customer(request: HttpRequest, customer_id: int, response: HttpResponse) -> dict[str, Any]:
    customer = _customer(request.user, customer_id)
    response["ETag"] = etag_of(customer.version)
    return customer_out(customer)


@router.patch(
    "/customers/{customer_id}",
    response=CustomerOut,
    summary="Change a customer (send If-Match to refuse stale edits)",
)
def update_customer(
    request: HttpRequest, customer_id: int, payload: CustomerPatch, response: HttpResponse
) -> dict[str, Any]:
    customer = _customer(request.user, customer_id)
    version = _check_if_match(request, customer.version)
    changes = _changes(
        payload, frozenset({"organisation_id", "tier_id", "owner_id", "team_id", "portal_user_id"})
    )
    customer = services.update_customer(
        actor=request.user,
        customer=customer,
        changes=_references(request.user, changes),
        expected_version=version,
    )
    customer = _customer(request.user, customer.pk)
    response["ETag"] = etag_of(customer.version)
    return customer_out(customer)


@router.post("/customers/{customer_id}/identities", response={201: IdentityOut})
def add_identity(
    request: HttpRequest, customer_id: int, payload: IdentityIn
) -> Status[CustomerIdentity]:
    customer = _customer(request.user, customer_id)
    identity = services.add_identity(
        actor=request.user, customer=customer, kind=payload.kind, value=payload.value
    )
    return Status(201, identity)


@router.delete("/customers/{customer_id}/identities/{identity_id}", response={204: None})
def remove_identity(request: HttpRequest, customer_id: int, identity_id: int) -> Status[None]:
    customer = _customer(request.user, customer_id)
    identity = get_object_or_404(customer.identities.all(), pk=identity_id)
    identity.customer = customer
    services.remove_identity(actor=request.user, identity=identity)
    return Status(204, None)


@router.post(
    "/customers/{customer_id}/identities/{identity_id}/link",
    response=LinkIdentityOut,
    summary="Link the identity to the existing customer it belongs to",
)
def link_identity(
    request: HttpRequest, customer_id: int, identity_id: int, payload: LinkIdentityIn
) -> dict[str, Any]:
    customer = _customer(request.user, customer_id)
    identity = get_object_or_404(customer.identities.filter(is_active=True), pk=identity_id)
    target = _customer(request.user, payload.customer_id)
    result = services.link_identity(actor=request.user, identity=identity, customer=target)
    return {
        "customer_id": result.customer.pk,
        "identity": result.identity,
        "merged_id": result.merged_id,
    }


@router.get("/customers/{customer_id}/notes", response=list[NoteOut])
def list_notes(request: HttpRequest, customer_id: int) -> list[CustomerNote]:
    customer = _customer(request.user, customer_id)
    return list(selectors.notes_of(customer))


@router.post("/customers/{customer_id}/notes", response={201: NoteOut})
def add_note(request: HttpRequest, customer_id: int, payload: NoteIn) -> Status[CustomerNote]:
    customer = _customer(request.user, customer_id)
    note = services.add_note(actor=request.user, customer=customer, body=payload.body)
    return Status(201, note)


@router.post(
    "/customers/{customer_id}/merge",
    response=MergeOut,
    summary="Merge another customer (merged_id) into this one, which survives",
)
def merge_customer(request: HttpRequest, customer_id: int, payload: MergeIn) -> dict[str, Any]:
    survivor = _customer(request.user, customer_id)
    merged = _customer(request.user, payload.merged_id)
    result = services.merge_customers(actor=request.user, survivor=survivor, merged=merged)
    return {
        "survivor": customer_out(_customer(request.user, result.survivor.pk)),
        "merged_id": result.merged.pk,
        "identities_moved": result.identities_moved,
        "identities_kept": result.identities_kept,
        "notes_moved": result.notes_moved,
    }
