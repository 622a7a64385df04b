"""The ticket API: list, count, read, file, change and take tickets; their conversation, files,
timeline and links; merge, split, bulk changes and CSV export.

Every ticket is fetched through :func:`selectors.tickets_visible_to`, so a ticket outside the
caller's scope is a 404 wherever it is named: in the path, in a body (422 naming the field) or in
a guessed attachment URL. Customer contacts get their own, smaller shapes (``audience:
"customer"``): public replies and files only, no internal fields, the assignee as a name.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from django.core.files.uploadedfile import UploadedFile as DjangoUploadedFile
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.errors import ValidationError
from ninja.files import UploadedFile
from pydantic import ConfigDict
from pydantic import ValidationError as PydanticValidationError

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.accounts.models import User
from aftersales.api.common import PageOut, csv_response, etag_of, expected_version
from aftersales.api.pagination import paginate
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, PermissionDenied, PreconditionFailed
from aftersales.customers import selectors as customer_selectors
from aftersales.customers import services as customer_services
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.customfields import services as customfields
from aftersales.tickets import filtering, selectors, services
from aftersales.tickets.models import (
    Attachment,
    Comment,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketStatus,
    TicketTag,
    TicketType,
    form_key_of,
)
from aftersales.tickets.permissions import ADD_TICKET, CHANGE_TICKET, EXPORT_TICKET

router = Router(tags=["tickets"])

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITY_KEYS = services.PRIORITY_KEYS
EXPORT_LIMIT = 100_000
EXPORT_HEADER = (
    "id", "number", "subject", "status", "status_category", "ticket_type", "business_line",
    "priority", "channel", "team", "assignee", "requester", "organisation", "tags",
    "custom_fields", "due_at", "created_at", "updated_at", "solved_at", "closed_at",
)  # fmt: skip
MAX_BULK = 200
# Query parameters of the list that are not filters.
LIST_PARAMETERS = frozenset({"cursor", "limit", "sort", "view", "saved_view"})
# What a customer contact may filter and sort by: nothing that reveals internal triage
# (assignee, team, tags, priority, internal custom fields).
CONTACT_FILTERS = frozenset(
    {
        "status_category",
        "ticket_type",
        "created_after",
        "created_before",
        "updated_after",
        "updated_before",
        "q",
    }
)
CONTACT_SORTS = frozenset({"-updated_at", "updated_at", "-created_at", "created_at"})
CONTACT_VIEWS = tuple(
    view for view in filtering.BUILT_IN_VIEWS if set(view.filters) <= CONTACT_FILTERS
)
# Timeline entries a customer contact sees (with the status change only, never who did what
# internally); any other entry that changed the status is shown as a status change.
CONTACT_EVENT_KINDS = (
    TicketEvent.Kind.CREATED,
    TicketEvent.Kind.STATUS_CHANGED,
    TicketEvent.Kind.REPLIED,
    TicketEvent.Kind.CUSTOMER_REPLIED,
    TicketEvent.Kind.REOPENED,
    TicketEvent.Kind.AUTO_CLOSED,
)
# Inline only for raster images; anything else (HTML, SVG, PDF…) is always a download.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


class PreconditionRequired(DomainError):
    """A change was sent without the ETag it was based on (RFC 6585, 428)."""

    status = 428
    default_message = _(
        "Send the ETag you got when reading the ticket as If-Match, so that nobody's "
        "change is overwritten."
    )


# --- Schemas -----------------------------------------------------------------------------------


class Named(Schema):
    id: int
    name: str


class StatusOut(Schema):
    id: int
    key: str
    name: str
    category: TicketStatus.Category


class TypeOut(Schema):
    id: int
    key: str
    name: str


class TicketSummaryOut(Schema):
    """A row of the staff list."""

    audience: Literal["staff"]
    id: int
    number: str
    subject: str
    status: StatusOut
    ticket_type: TypeOut
    business_line_id: int
    priority: Priority
    channel: Ticket.Channel
    team: Named | None
    assignee: Named | None
    requester: Named
    organisation_id: int | None
    tags: list[str]
    due_at: datetime | None
    merged_into_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class TicketOut(TicketSummaryOut):
    """One ticket as staff read it."""

    description: str
    custom_fields: dict[str, Any]
    followers: list[Named]
    parent_id: int | None
    created_by: Named | None
    status_changed_at: datetime
    first_response_at: datetime | None
    last_customer_reply_at: datetime | None
    last_agent_reply_at: datetime | None
    solved_at: datetime | None
    closed_at: datetime | None
    satisfaction: int | None = Field(
        None, description="The customer's latest satisfaction rating (CSAT 1-5 or NPS 0-10)."
    )
    satisfaction_at: datetime | None = None


class CustomerTicketSummaryOut(Schema):
    """A row of a customer contact's list: no triage, no internal fields."""

    audience: Literal["customer"]
    id: int
    number: str
    subject: str
    status: StatusOut
    ticket_type: TypeOut
    requester: Named
    created_at: datetime
    updated_at: datetime


class CustomerTicketOut(CustomerTicketSummaryOut):
    """One ticket as its customer contact reads it."""

    description: str
    assignee_name: str | None
    custom_fields: dict[str, Any] = Field(
        ..., description="Only the fields the form shows customers."
    )
    solved_at: datetime | None
    closed_at: datetime | None


AnyTicketSummaryOut = Annotated[
    TicketSummaryOut | CustomerTicketSummaryOut, Field(discriminator="audience")
]
AnyTicketOut = Annotated[TicketOut | CustomerTicketOut, Field(discriminator="audience")]


class IdentityRef(Schema):
    kind: CustomerIdentity.Kind
    value: str = Field(..., min_length=1, max_length=254)
    name: str | None = Field(
        None,
        max_length=200,
        description="An app user (kind app_user_id) seen for the first time becomes a new "
        "customer of the ticket type's business line under this name.",
    )


class TicketIn(Schema):
    """A new ticket. Customer contacts send only the type, subject, description and the custom
    fields their form shows; they are always the requester."""

    model_config = ConfigDict(extra="forbid")

    ticket_type_id: int
    subject: str = Field(..., max_length=1000)
    description: str = Field("", max_length=services.MAX_DESCRIPTION)
    requester_id: int | None = Field(None, description="The customer, by id…")
    requester: IdentityRef | None = Field(None, description="…or by one of their identities.")
    organisation_id: int | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    priority: Priority = "normal"
    channel: Ticket.Channel = Ticket.Channel.API
    custom_fields: dict[str, Any] = {}
    tags: list[str] = Field([], max_length=50)
    follower_ids: list[int] = Field([], max_length=50)
    due_at: datetime | None = None
    parent_id: int | None = None


CONTACT_CREATE_FIELDS = frozenset({"ticket_type_id", "subject", "description", "custom_fields"})


class TicketPatch(Schema):
    """Only the fields sent change. References are ids the caller must be able to see."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(None, max_length=1000)
    description: str | None = Field(None, max_length=services.MAX_DESCRIPTION)
    priority: Priority | None = None
    status_id: int | None = None
    ticket_type_id: int | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    requester_id: int | None = None
    organisation_id: int | None = None
    parent_id: int | None = None
    follower_ids: list[int] | None = Field(None, max_length=50)
    tags: list[str] | None = Field(None, max_length=50)
    add_tags: list[str] | None = Field(None, max_length=50)
    remove_tags: list[str] | None = Field(None, max_length=50)
    custom_fields: dict[str, Any] | None = Field(None, description="Sent keys only; null clears.")
    due_at: datetime | None = None


NULLABLE = frozenset({"team_id", "assignee_id", "organisation_id", "parent_id", "due_at"})


class ListQuery(Schema):
    cursor: str | None = None
    limit: int | None = Field(None, ge=1, le=200)
    sort: str | None = Field(None, description="One of: " + ", ".join(filtering.SORTS))
    view: str | None = Field(
        None, description="A built-in view: " + ", ".join(filtering.BUILT_IN_BY_KEY)
    )
    saved_view: int | None = Field(None, description="The id of a saved view you may use.")


class PageQuery(Schema):
    cursor: str | None = None
    limit: int | None = Field(None, ge=1, le=200)


class CountOut(Schema):
    key: str
    label: str
    count: int
    is_capped: bool = Field(..., description="The real number is larger than count.")


class AttachmentOut(Schema):
    audience: Literal["staff"]
    id: int
    ticket_id: int
    comment_id: int | None
    filename: str
    content_type: str
    size: int
    sha256: str
    is_public: bool
    uploaded_by: Named | None
    url: str
    created_at: datetime


class CustomerAttachmentOut(Schema):
    audience: Literal["customer"]
    id: int
    filename: str
    content_type: str
    size: int
    url: str
    created_at: datetime


AnyAttachmentOut = Annotated[AttachmentOut | CustomerAttachmentOut, Field(discriminator="audience")]


class CommentOut(Schema):
    audience: Literal["staff"]
    id: int
    ticket_id: int
    original_ticket_id: int | None
    author: Named | None
    author_customer: Named | None
    is_public: bool
    body: str
    body_text: str
    channel: Ticket.Channel
    mentions: list[int]
    attachments: list[AttachmentOut]
    created_at: datetime


class CustomerCommentOut(Schema):
    audience: Literal["customer"]
    id: int
    author_name: str | None
    is_from_customer: bool
    body: str
    attachments: list[CustomerAttachmentOut]
    created_at: datetime


AnyCommentOut = Annotated[CommentOut | CustomerCommentOut, Field(discriminator="audience")]


class CommentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(..., max_length=100_000)
    is_public: bool = Field(True, description="False: an internal note (staff only).")


class EventOut(Schema):
    audience: Literal["staff"]
    id: int
    kind: TicketEvent.Kind
    actor: Named | None
    changes: dict[str, Any]
    comment_id: int | None
    created_at: datetime


class CustomerEventOut(Schema):
    audience: Literal["customer"]
    id: int
    kind: TicketEvent.Kind
    actor_name: str | None
    changes: dict[str, Any] = Field(..., description="Only the status, when it changed.")
    created_at: datetime


AnyEventOut = Annotated[EventOut | CustomerEventOut, Field(discriminator="audience")]


class LinkedTicketOut(Schema):
    id: int
    number: str
    subject: str


class LinkOut(Schema):
    id: int
    kind: TicketLink.Kind
    direction: Literal["outgoing", "incoming"]
    ticket: LinkedTicketOut
    created_at: datetime


class LinkIn(Schema):
    model_config = ConfigDict(extra="forbid")

    target_id: int
    kind: TicketLink.Kind = TicketLink.Kind.RELATED


class MergeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    merged_ids: list[int] = Field(..., min_length=1, max_length=50)


class MergeOut(Schema):
    survivor: TicketOut
    merged_ids: list[int]
    comments_moved: int


class SplitIn(Schema):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(..., max_length=1000)


class BulkIn(Schema):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(..., min_length=1, max_length=MAX_BULK)
    changes: TicketPatch


class BulkUpdatedOut(Schema):
    id: int
    version: int


class BulkFailureOut(Schema):
    id: int
    detail: str


class BulkOut(Schema):
    updated: list[BulkUpdatedOut]
    failed: list[BulkFailureOut]


# --- Fetching through the selectors ------------------------------------------------------------


def _is_contact(request: HttpRequest) -> bool:
    return selectors.is_contact(request.user)


def _ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    return get_object_or_404(selectors.tickets_visible_to(request.user), pk=ticket_id)


def _staff_ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    """A ticket for an endpoint customer contacts have no business with: 404 for them, as
    every staff object is (docs/authorization.md, "Customers")."""
    if _is_contact(request):
        raise Http404
    return _ticket(request, ticket_id)


def _unknown_reference(field: str) -> DomainError:
    # Missing and out of scope read the same: the caller learns nothing about the other rows.
    return DomainError(
        "unknown_reference", field=field, message=_("The referenced object does not exist.")
    )


def _resolve(queryset: QuerySet[Any], pk: int | None, field: str) -> Any:
    if pk is None:
        return None
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise _unknown_reference(field)
    return found


def _resolve_many(queryset: QuerySet[Any], pks: list[int], field: str) -> list[Any]:
    wanted = list(dict.fromkeys(pks))
    found = {row.pk: row for row in queryset.filter(pk__in=wanted)}
    if len(found) != len(wanted):
        raise _unknown_reference(field)
    return [found[pk] for pk in wanted]


def _staff_members(viewer: Any) -> QuerySet[User]:
    return accounts_selectors.users_visible_to(viewer).filter(kind=User.Kind.STAFF)


def _statuses_for(viewer: Any, ticket_type: TicketType | None) -> QuerySet[TicketStatus]:
    """Statuses a change may name: the ticket's type's, or in a bulk change those of every
    type the caller can see or use (a ticket of another type then reports its own refusal)."""
    if ticket_type is not None:
        return TicketStatus.objects.filter(ticket_type=ticket_type)
    return TicketStatus.objects.filter(
        Q(ticket_type__in=selectors.ticket_types_usable_by(viewer).values("pk"))
        | Q(ticket_type__in=selectors.ticket_types_visible_to(viewer).values("pk"))
    )


def _resolve_changes(
    viewer: Any, data: Mapping[str, Any], ticket_type: TicketType | None
) -> dict[str, Any]:
    """PATCH/bulk fields → the service's ``changes``: every id through a scoped selector."""
    references: dict[str, tuple[str, Callable[[], QuerySet[Any]]]] = {
        "team_id": ("team", lambda: accounts_selectors.teams_visible_to(viewer)),
        "assignee_id": ("assignee", lambda: _staff_members(viewer)),
        "requester_id": ("requester", lambda: customer_selectors.customers_visible_to(viewer)),
        "organisation_id": (
            "organisation",
            lambda: customer_selectors.organisations_visible_to(viewer),
        ),
        "parent_id": ("parent", lambda: selectors.tickets_visible_to(viewer)),
        "ticket_type_id": ("ticket_type", lambda: selectors.ticket_types_usable_by(viewer)),
    }
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key in references:
            name, queryset = references[key]
            changes[name] = _resolve(queryset(), value, key)
        elif key == "follower_ids":
            changes["followers"] = _resolve_many(_staff_members(viewer), value, key)
        elif key != "status_id":
            changes[key] = value
    if "status_id" in data:
        target_type = changes.get("ticket_type", ticket_type)
        changes["status"] = _resolve(
            _statuses_for(viewer, target_type), data["status_id"], "status_id"
        )
    return changes


def _patch_data(payload: TicketPatch) -> dict[str, Any]:
    data = payload.dict(exclude_unset=True)
    for field, value in data.items():
        if value is None and field not in NULLABLE:
            raise DomainError(
                "null_not_allowed", field=field, message=_("This field cannot be null.")
            )
    return data


def _required_version(request: HttpRequest, ticket: Ticket) -> int:
    """The version the change is based on: ``If-Match`` is required on tickets (428 without
    it, 412 when stale), since several agents work the same ticket at once."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        raise PreconditionRequired("if_match_required", field="If-Match")
    expected = expected_version(request)
    if expected is None or expected != ticket.version:
        raise PreconditionFailed(
            "version_mismatch",
            field="If-Match",
            message=_("Someone changed this ticket since you opened it. Review their change."),
        )
    return expected


# --- Serialisation -----------------------------------------------------------------------------


def _named(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {"id": obj.pk, "name": str(obj) if isinstance(obj, User) else obj.name}


def _status(ticket: Ticket) -> dict[str, Any]:
    status = ticket.status
    return {"id": status.pk, "key": status.key, "name": status.name, "category": status.category}


def _type(ticket: Ticket) -> dict[str, Any]:
    ticket_type = ticket.ticket_type
    return {"id": ticket_type.pk, "key": ticket_type.key, "name": ticket_type.name}


def ticket_summary(ticket: Ticket, tags: list[str]) -> dict[str, Any]:
    return {
        "audience": "staff",
        "id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "status": _status(ticket),
        "ticket_type": _type(ticket),
        "business_line_id": ticket.business_line_id,
        "priority": PRIORITY_KEYS[ticket.priority],
        "channel": ticket.channel,
        "team": _named(ticket.team),
        "assignee": _named(ticket.assignee),
        "requester": _named(ticket.requester),
        "organisation_id": ticket.organisation_id,
        "tags": tags,
        "due_at": ticket.due_at,
        "merged_into_id": ticket.merged_into_id,
        "version": ticket.version,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }


def customer_ticket_summary(ticket: Ticket) -> dict[str, Any]:
    return {
        "audience": "customer",
        "id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "status": _status(ticket),
        "ticket_type": _type(ticket),
        "requester": _named(ticket.requester),
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
    }


def _customer_visible_fields(ticket: Ticket) -> dict[str, Any]:
    shown = {
        d.key
        for d in customfields.definitions_for(services.TARGET, form_key_of(ticket.ticket_type_id))
        if d.customer_visible
    }
    return {key: value for key, value in (ticket.custom_fields or {}).items() if key in shown}


def ticket_detail(request: HttpRequest, ticket: Ticket) -> dict[str, Any]:
    """The ticket in the shape its caller may read."""
    if _is_contact(request):
        return {
            **customer_ticket_summary(ticket),
            "description": ticket.description,
            "assignee_name": str(ticket.assignee) if ticket.assignee is not None else None,
            "custom_fields": _customer_visible_fields(ticket),
            "solved_at": ticket.solved_at,
            "closed_at": ticket.closed_at,
        }
    return {
        **ticket_summary(ticket, selectors.tags_of(ticket)),
        "description": ticket.description,
        "custom_fields": ticket.custom_fields,
        "followers": [_named(p) for p in selectors.followers_of(ticket)],
        "parent_id": ticket.parent_id,
        "created_by": _named(ticket.created_by),
        "status_changed_at": ticket.status_changed_at,
        "first_response_at": ticket.first_response_at,
        "last_customer_reply_at": ticket.last_customer_reply_at,
        "last_agent_reply_at": ticket.last_agent_reply_at,
        "solved_at": ticket.solved_at,
        "closed_at": ticket.closed_at,
        "satisfaction": ticket.satisfaction,
        "satisfaction_at": ticket.satisfaction_at,
    }


def _fresh(request: HttpRequest, ticket_id: int) -> Ticket:
    """The ticket as it is now, with its relations, for a response after a write."""
    return get_object_or_404(
        selectors.tickets_visible_to(request.user).select_related("created_by"), pk=ticket_id
    )


def _ticket_response(
    request: HttpRequest, ticket: Ticket, response: HttpResponse
) -> dict[str, Any]:
    response["ETag"] = etag_of(ticket.version)
    return ticket_detail(request, ticket)


def _content_url(attachment: Attachment) -> str:
    return reverse("api:attachment_content", kwargs={"attachment_id": attachment.pk})


def attachment_out(request: HttpRequest, attachment: Attachment) -> dict[str, Any]:
    if _is_contact(request):
        return {
            "audience": "customer",
            "id": attachment.pk,
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "url": _content_url(attachment),
            "created_at": attachment.created_at,
        }
    return {
        "audience": "staff",
        "id": attachment.pk,
        "ticket_id": attachment.ticket_id,
        "comment_id": attachment.comment_id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "is_public": attachment.is_public,
        "uploaded_by": _named(attachment.uploaded_by),
        "url": _content_url(attachment),
        "created_at": attachment.created_at,
    }


def comment_out(request: HttpRequest, comment: Comment) -> dict[str, Any]:
    files = [attachment_out(request, a) for a in comment.attachments.all()]
    if _is_contact(request):
        if comment.author_customer is not None:
            author_name: str | None = comment.author_customer.name
        else:
            author_name = str(comment.author) if comment.author is not None else None
        return {
            "audience": "customer",
            "id": comment.pk,
            "author_name": author_name,
            "is_from_customer": comment.is_from_customer,
            "body": comment.body,
            "attachments": files,
            "created_at": comment.created_at,
        }
    return {
        "audience": "staff",
        "id": comment.pk,
        "ticket_id": comment.ticket_id,
        "original_ticket_id": comment.original_ticket_id,
        "author": _named(comment.author),
        "author_customer": _named(comment.author_customer),
        "is_public": comment.is_public,
        "body": comment.body,
        "body_text": comment.body_text,
        "channel": comment.channel,
        "mentions": list(comment.mentions or []),
        "attachments": files,
        "created_at": comment.created_at,
    }


def event_out(request: HttpRequest, event: TicketEvent) -> dict[str, Any]:
    if _is_contact(request):
        status = (event.changes or {}).get("status")
        return {
            "audience": "customer",
            "id": event.pk,
            "kind": event.kind if event.kind in CONTACT_EVENT_KINDS else "status_changed",
            "actor_name": str(event.actor) if event.actor is not None else None,
            "changes": {"status": status} if status is not None else {},
            "created_at": event.created_at,
        }
    return {
        "audience": "staff",
        "id": event.pk,
        "kind": event.kind,
        "actor": _named(event.actor),
        "changes": event.changes or {},
        "comment_id": event.comment_id,
        "created_at": event.created_at,
    }


def link_out(link: TicketLink, ticket: Ticket) -> dict[str, Any]:
    outgoing = link.source_id == ticket.pk
    other = link.target if outgoing else link.source
    return {
        "id": link.pk,
        "kind": link.kind,
        "direction": "outgoing" if outgoing else "incoming",
        "ticket": {"id": other.pk, "number": other.number, "subject": other.subject},
        "created_at": link.created_at,
    }


# --- Filters, views and sorts ------------------------------------------------------------------


def _invalid(field: str, message: Any) -> DomainError:
    return DomainError("invalid_filter", field=field, message=message)


def filtered_tickets(
    request: HttpRequest, query: ListQuery, codename: str | None = None
) -> tuple[QuerySet[Ticket], str]:
    """The caller's tickets narrowed by ``view``/``saved_view`` and the filter parameters
    (explicit parameters replace the view's value of the same key), and the sort to use."""
    user = request.user
    contact = _is_contact(request)
    base_filters: dict[str, Any] = {}
    base_sort = filtering.DEFAULT_SORT
    if query.view and query.saved_view is not None:
        raise _invalid("saved_view", _("Choose either a built-in view or a saved view."))
    if query.view:
        views = {v.key: v for v in (CONTACT_VIEWS if contact else filtering.BUILT_IN_VIEWS)}
        view = views.get(query.view)
        if view is None:
            raise _invalid("view", _("There is no such view."))
        base_filters, base_sort = dict(view.filters), view.sort
    elif query.saved_view is not None:
        saved = selectors.saved_views_of(user).filter(pk=query.saved_view).first()
        if saved is None:
            raise _unknown_reference("saved_view")
        base_filters, base_sort = dict(saved.filters or {}), saved.sort
    raw = {k: request.GET.getlist(k) for k in request.GET if k not in LIST_PARAMETERS}
    if contact:
        for key in sorted(raw):
            if key not in CONTACT_FILTERS:
                raise _invalid(key, _("Tickets cannot be filtered by this."))
    filters = filtering.clean_filters({**base_filters, **raw})
    sort = filtering.clean_sort(query.sort or base_sort)
    if contact and sort not in CONTACT_SORTS:
        raise _invalid(
            "sort", _("Sort by one of: %(values)s.") % {"values": ", ".join(sorted(CONTACT_SORTS))}
        )
    tickets = filtering.apply_filters(selectors.tickets_visible_to(user, codename), filters, user)
    return tickets, sort


def _filter_parameters() -> list[dict[str, Any]]:
    """The filter keys for the OpenAPI document (they are read from the query string as is, so
    that ``cf.<key>`` and repeated parameters work)."""
    parameters = [
        {
            "in": "query",
            "name": key,
            "required": False,
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "form",
            "explode": True,
            "description": f"Filter ({kind}); repeat for several values.",
        }
        for key, kind in filtering.FILTERS.items()
    ]
    parameters.append(
        {
            "in": "query",
            "name": "cf.<key>",
            "required": False,
            "schema": {"type": "array", "items": {"type": "string"}},
            "description": "A custom field of tickets equals (or contains) one of the values.",
        }
    )
    return parameters


# --- Tickets -----------------------------------------------------------------------------------


@router.get(
    "/tickets",
    response=PageOut[AnyTicketSummaryOut],
    summary="Tickets you may see, filtered, sorted and paged",
    openapi_extra={"parameters": _filter_parameters()},
)
def list_tickets(request: HttpRequest, query: Query[ListQuery]) -> dict[str, Any]:
    tickets, sort = filtered_tickets(request, query)
    order_field, descending = filtering.SORTS[sort]
    contact = _is_contact(request)
    if not contact:
        tickets = tickets.prefetch_related(
            Prefetch("tag_rows", queryset=TicketTag.objects.order_by("name"))
        )
    page = paginate(
        tickets,
        cursor=query.cursor,
        limit=query.limit,
        order_field=order_field,
        descending=descending,
    )
    items = [
        customer_ticket_summary(t)
        if contact
        else ticket_summary(t, [tag.name for tag in t.tag_rows.all()])
        for t in page.items
    ]
    return {"items": items, "next_cursor": page.next_cursor}


@router.get(
    "/tickets/counts",
    response=list[CountOut],
    summary="How many tickets each built-in view holds for you (capped)",
)
def count_tickets(request: HttpRequest) -> list[dict[str, Any]]:
    user = request.user
    views = CONTACT_VIEWS if _is_contact(request) else filtering.BUILT_IN_VIEWS
    visible = selectors.tickets_visible_to(user)
    counts = []
    for view in views:
        tickets = filtering.apply_filters(visible, filtering.clean_filters(view.filters), user)
        count, capped = filtering.capped_count(tickets)
        counts.append(
            {"key": view.key, "label": str(view.label), "count": count, "is_capped": capped}
        )
    return counts


@router.get(
    "/tickets/export",
    response={200: None},
    summary="The tickets you may export, with the list's filters, as CSV",
    openapi_extra={"parameters": _filter_parameters()},
)
def export_tickets(request: HttpRequest, query: Query[ListQuery]) -> HttpResponse:
    authz.require_permission(request.user, EXPORT_TICKET)
    tickets, sort = filtered_tickets(request, query, EXPORT_TICKET)
    order_field, descending = filtering.SORTS[sort]
    sign = "-" if descending else ""
    tickets = tickets.select_related("organisation").prefetch_related(
        Prefetch("tag_rows", queryset=TicketTag.objects.order_by("name"))
    )
    rows = [
        (
            t.pk,
            t.number,
            t.subject,
            t.status.name,
            t.status_category,
            t.ticket_type.name,
            t.business_line.code,
            PRIORITY_KEYS[t.priority],
            t.channel,
            t.team.name if t.team else "",
            str(t.assignee) if t.assignee else "",
            t.requester.name,
            t.organisation.name if t.organisation else "",
            ", ".join(tag.name for tag in t.tag_rows.all()),
            json.dumps(t.custom_fields or {}, ensure_ascii=False, sort_keys=True),
            t.due_at.isoformat() if t.due_at else "",
            t.created_at.isoformat(),
            t.updated_at.isoformat(),
            t.solved_at.isoformat() if t.solved_at else "",
            t.closed_at.isoformat() if t.closed_at else "",
        )
        for t in tickets.order_by(f"{sign}{order_field}", f"{sign}pk")[:EXPORT_LIMIT]
    ]
    audit.record(
        actor=request.user,
        action=AuditEntry.Action.EXPORTED,
        object_type=services.TARGET,
        object_repr="tickets.csv",
        after={"rows": len(rows), "filters": sorted(set(request.GET) - {"cursor", "limit"})},
    )
    return csv_response("tickets.csv", EXPORT_HEADER, rows)


def _create_as_contact(request: HttpRequest, payload: TicketIn) -> Ticket:
    for field in sorted(payload.model_fields_set - CONTACT_CREATE_FIELDS):
        raise DomainError("not_allowed", field=field, message=_("This field is not allowed."))
    requester = (
        customer_selectors.customers_visible_to_contact(request.user)
        .filter(portal_user_id=request.user.pk)
        .first()
    )
    if requester is None:
        raise PermissionDenied("not_own_record", field="requester")
    # A contact files under the active types of their own business line.
    ticket_type = _resolve(
        TicketType.objects.filter(
            is_active=True,
            business_line_id=requester.business_line_id,
            business_line__is_active=True,
        ),
        payload.ticket_type_id,
        "ticket_type_id",
    )
    return services.create_ticket(
        actor=request.user,
        ticket_type=ticket_type,
        requester=requester,
        subject=payload.subject,
        description=payload.description,
        channel=Ticket.Channel.PORTAL,
        custom_fields=payload.custom_fields,
        audience="customer",
    )


def _requester(viewer: Any, payload: TicketIn, ticket_type: TicketType) -> Customer:
    if payload.requester_id is not None and payload.requester is not None:
        raise DomainError(
            "invalid",
            field="requester",
            message=_("Name the customer either by id or by identity, not both."),
        )
    visible = customer_selectors.customers_visible_to(viewer)
    if payload.requester is not None:
        found = customer_selectors.find_customer_by_identity(
            payload.requester.kind, payload.requester.value
        )
        if found is None and payload.requester.kind == CustomerIdentity.Kind.APP_USER_ID:
            # The company's own app files for its users: one it never sent before is new.
            return customer_services.create_customer(
                actor=viewer,
                name=payload.requester.name or payload.requester.value,
                business_line=ticket_type.business_line,
                identities=[(payload.requester.kind, payload.requester.value)],
            )
        if found is None or not visible.filter(pk=found.pk).exists():
            raise _unknown_reference("requester")
        return found
    if payload.requester_id is None:
        raise DomainError("required", field="requester_id", message=_("Choose the customer."))
    customer: Customer = _resolve(visible, payload.requester_id, "requester_id")
    return customer


@router.post("/tickets", response={201: AnyTicketOut}, summary="Open a ticket")
def create_ticket(
    request: HttpRequest, payload: TicketIn, response: HttpResponse
) -> Status[dict[str, Any]]:
    user = request.user
    if _is_contact(request):
        ticket = _create_as_contact(request, payload)
    else:
        authz.require_permission(user, ADD_TICKET)
        ticket_type = _resolve(
            selectors.ticket_types_usable_by(user), payload.ticket_type_id, "ticket_type_id"
        )
        # A customer created for a new app user must not outlive a refused ticket.
        with transaction.atomic():
            ticket = _create_as_staff(user, payload, ticket_type)
    ticket = _fresh(request, ticket.pk)
    response["Location"] = reverse("api:get_ticket", kwargs={"ticket_id": ticket.pk})
    return Status(201, _ticket_response(request, ticket, response))


def _create_as_staff(user: Any, payload: TicketIn, ticket_type: TicketType) -> Ticket:
    return services.create_ticket(
        actor=user,
        ticket_type=ticket_type,
        requester=_requester(user, payload, ticket_type),
        subject=payload.subject,
        description=payload.description,
        channel=payload.channel,
        priority=payload.priority,
        team=_resolve(accounts_selectors.teams_visible_to(user), payload.team_id, "team_id"),
        assignee=_resolve(_staff_members(user), payload.assignee_id, "assignee_id"),
        organisation=_resolve(
            customer_selectors.organisations_visible_to(user),
            payload.organisation_id,
            "organisation_id",
        ),
        custom_fields=payload.custom_fields,
        tags=payload.tags,
        followers=_resolve_many(_staff_members(user), payload.follower_ids, "follower_ids"),
        due_at=payload.due_at,
        parent=_resolve(selectors.tickets_visible_to(user), payload.parent_id, "parent_id"),
    )


@router.post(
    "/tickets/bulk",
    response=BulkOut,
    summary="Apply one change to several tickets; each ticket succeeds or fails on its own",
)
def bulk_update(request: HttpRequest, payload: BulkIn) -> dict[str, Any]:
    user = request.user
    authz.require_permission(user, CHANGE_TICKET)
    changes = _resolve_changes(user, _patch_data(payload.changes), None)
    ids = list(dict.fromkeys(payload.ids))
    found = {t.pk: t for t in selectors.tickets_visible_to(user).filter(pk__in=ids)}
    result = services.bulk_update_tickets(
        actor=user, tickets=[found[pk] for pk in ids if pk in found], changes=changes
    )
    failed = [{"id": pk, "detail": str(_("Not found."))} for pk in ids if pk not in found]
    failed += [{"id": pk, "detail": detail} for pk, detail in result.failed.items()]
    return {
        "updated": [{"id": t.pk, "version": t.version} for t in result.updated],
        "failed": sorted(failed, key=lambda f: ids.index(f["id"])),
    }


@router.get(
    "/tickets/{ticket_id}",
    response=AnyTicketOut,
    url_name="get_ticket",
    summary="One ticket; the ETag is what a PATCH sends back as If-Match",
)
def get_ticket(request: HttpRequest, ticket_id: int, response: HttpResponse) -> dict[str, Any]:
    return _ticket_response(request, _fresh(request, ticket_id), response)


@router.patch(
    "/tickets/{ticket_id}",
    response=TicketOut,
    summary="Change a ticket; If-Match is required (428 without it, 412 when stale)",
)
def update_ticket(
    request: HttpRequest, ticket_id: int, payload: TicketPatch, response: HttpResponse
) -> dict[str, Any]:
    ticket = _staff_ticket(request, ticket_id)
    version = _required_version(request, ticket)
    authz.require_permission(request.user, CHANGE_TICKET, ticket)
    changes = _resolve_changes(request.user, _patch_data(payload), ticket.ticket_type)
    services.update_ticket(
        actor=request.user, ticket=ticket, changes=changes, expected_version=version
    )
    return _ticket_response(request, _fresh(request, ticket_id), response)


@router.post(
    "/tickets/{ticket_id}/take",
    response=TicketOut,
    summary="Assign an unassigned ticket to yourself (409 naming who has it)",
)
def take_ticket(request: HttpRequest, ticket_id: int, response: HttpResponse) -> dict[str, Any]:
    ticket = _staff_ticket(request, ticket_id)
    services.take_ticket(actor=request.user, ticket=ticket)
    return _ticket_response(request, _fresh(request, ticket_id), response)


@router.post(
    "/tickets/{ticket_id}/merge",
    response=MergeOut,
    summary="Merge other tickets (merged_ids) into this one, which survives",
)
def merge_tickets(request: HttpRequest, ticket_id: int, payload: MergeIn) -> dict[str, Any]:
    survivor = _staff_ticket(request, ticket_id)
    merged = _resolve_many(
        selectors.tickets_visible_to(request.user), payload.merged_ids, "merged_ids"
    )
    result = services.merge_tickets(actor=request.user, survivor=survivor, merged=merged)
    return {
        "survivor": ticket_detail(request, _fresh(request, ticket_id)),
        "merged_ids": [t.pk for t in result.merged],
        "comments_moved": result.comments_moved,
    }


# --- Conversation --------------------------------------------------------------------------------


def _comments(request: HttpRequest, ticket: Ticket) -> QuerySet[Comment]:
    files = Attachment.objects.select_related("uploaded_by").order_by("created_at", "pk")
    if _is_contact(request):
        files = files.filter(is_public=True)
    return selectors.comments_visible_to(request.user, ticket).prefetch_related(
        Prefetch("attachments", queryset=files)
    )


@router.get(
    "/tickets/{ticket_id}/comments",
    response=PageOut[AnyCommentOut],
    summary="The conversation, oldest first (customers: public replies only)",
)
def list_comments(request: HttpRequest, ticket_id: int, query: Query[PageQuery]) -> dict[str, Any]:
    ticket = _ticket(request, ticket_id)
    page = paginate(
        _comments(request, ticket),
        cursor=query.cursor,
        limit=query.limit,
        order_field="created_at",
    )
    return {
        "items": [comment_out(request, c) for c in page.items],
        "next_cursor": page.next_cursor,
    }


def _comment_input(request: HttpRequest) -> tuple[CommentIn, list[DjangoUploadedFile]]:
    """JSON ``{body, is_public}``, or multipart with the same fields plus ``files``."""
    files: list[DjangoUploadedFile] = []
    try:
        if (request.content_type or "").startswith("multipart/form-data"):
            data: dict[str, Any] = {"body": request.POST.get("body")}
            if "is_public" in request.POST:
                data["is_public"] = request.POST["is_public"]
            files = request.FILES.getlist("files")
            return CommentIn.model_validate(data), files
        return CommentIn.model_validate_json(request.body or b"{}"), files
    except PydanticValidationError as error:
        raise ValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


_COMMENT_BODY = {
    "type": "object",
    "required": ["body"],
    "properties": {
        "body": {"type": "string", "description": "The message (HTML is sanitised)."},
        "is_public": {"type": "boolean", "default": True},
    },
}


@router.post(
    "/tickets/{ticket_id}/comments",
    response={201: AnyCommentOut},
    summary="Reply publicly or add an internal note, as JSON or multipart with files",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _COMMENT_BODY},
                "multipart/form-data": {
                    "schema": {
                        **_COMMENT_BODY,
                        "properties": {
                            **_COMMENT_BODY["properties"],  # type: ignore[dict-item]
                            "files": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            },
                        },
                    }
                },
            },
        }
    },
)
def add_comment(request: HttpRequest, ticket_id: int) -> Status[dict[str, Any]]:
    ticket = _ticket(request, ticket_id)
    payload, files = _comment_input(request)
    comment = services.add_comment(
        actor=request.user,
        ticket=ticket,
        body=payload.body,
        is_public=payload.is_public,
        channel=Ticket.Channel.PORTAL if _is_contact(request) else Ticket.Channel.API,
        files=files,
    )
    return Status(201, comment_out(request, _comments(request, ticket).get(pk=comment.pk)))


@router.post(
    "/comments/{comment_id}/split",
    response={201: TicketOut},
    summary="Turn a message into a new ticket linked to its original",
)
def split_comment(
    request: HttpRequest, comment_id: int, payload: SplitIn, response: HttpResponse
) -> Status[dict[str, Any]]:
    if _is_contact(request):
        raise Http404
    visible = selectors.tickets_visible_to(request.user).values("pk")
    comment = get_object_or_404(Comment.objects.filter(ticket_id__in=visible), pk=comment_id)
    ticket = services.split_ticket(actor=request.user, comment=comment, subject=payload.subject)
    ticket = _fresh(request, ticket.pk)
    response["Location"] = reverse("api:get_ticket", kwargs={"ticket_id": ticket.pk})
    return Status(201, _ticket_response(request, ticket, response))


# --- Files -----------------------------------------------------------------------------------


@router.get(
    "/tickets/{ticket_id}/attachments",
    response=PageOut[AnyAttachmentOut],
    summary="The ticket's files (customers: those of public messages only)",
)
def list_attachments(
    request: HttpRequest, ticket_id: int, query: Query[PageQuery]
) -> dict[str, Any]:
    ticket = _ticket(request, ticket_id)
    files = (
        selectors.attachments_visible_to(request.user)
        .filter(ticket=ticket)
        .select_related("uploaded_by")
    )
    page = paginate(files, cursor=query.cursor, limit=query.limit)
    return {
        "items": [attachment_out(request, a) for a in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post(
    "/tickets/{ticket_id}/attachments",
    response={201: list[AttachmentOut]},
    summary="Attach files to the ticket itself (staff; internal unless is_public)",
)
def add_attachments(
    request: HttpRequest,
    ticket_id: int,
    files: File[list[UploadedFile]],
    is_public: Form[bool] = False,
) -> Status[list[dict[str, Any]]]:
    ticket = _staff_ticket(request, ticket_id)
    stored = services.add_attachments(
        actor=request.user, ticket=ticket, files=files, is_public=is_public
    )
    return Status(201, [attachment_out(request, a) for a in stored])


def content_disposition(filename: str, *, inline: bool) -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''…`` (RFC 6266 with RFC 5987 encoding):
    old clients read the plain fallback, every current browser the exact UTF-8 name."""
    normalised = unicodedata.normalize("NFKD", filename)
    fallback = (
        "".join(
            c if 0x20 <= ord(c) < 0x7F and c not in '"\\%' else "_"
            for c in normalised
            if not unicodedata.combining(c)
        ).strip()
        or "file"
    )
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/attachments/{attachment_id}/content",
    response={200: None},
    url_name="attachment_content",
    summary="The file itself, after the same permission check as the ticket",
)
def attachment_content(request: HttpRequest, attachment_id: int) -> FileResponse:
    attachment = get_object_or_404(selectors.attachments_visible_to(request.user), pk=attachment_id)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    inline = attachment.content_type in INLINE_TYPES
    response = FileResponse(
        handle, content_type=attachment.content_type or "application/octet-stream"
    )
    response["Content-Disposition"] = content_disposition(attachment.filename, inline=inline)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = "private, no-cache"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


# --- Timeline and links --------------------------------------------------------------------------


@router.get(
    "/tickets/{ticket_id}/events",
    response=PageOut[AnyEventOut],
    summary="The ticket's timeline, oldest first (customers: replies and status changes)",
)
def list_events(request: HttpRequest, ticket_id: int, query: Query[PageQuery]) -> dict[str, Any]:
    ticket = _ticket(request, ticket_id)
    events = selectors.events_of(ticket)
    if _is_contact(request):
        events = events.filter(Q(kind__in=CONTACT_EVENT_KINDS) | Q(changes__has_key="status"))
    page = paginate(events, cursor=query.cursor, limit=query.limit, order_field="created_at")
    return {
        "items": [event_out(request, e) for e in page.items],
        "next_cursor": page.next_cursor,
    }


def _visible_links(request: HttpRequest, ticket: Ticket) -> QuerySet[TicketLink]:
    visible = selectors.tickets_visible_to(request.user).values("pk")
    return selectors.links_of(ticket).filter(source_id__in=visible, target_id__in=visible)


@router.get(
    "/tickets/{ticket_id}/links",
    response=list[LinkOut],
    summary="Related and duplicate tickets you may see",
)
def list_links(request: HttpRequest, ticket_id: int) -> list[dict[str, Any]]:
    ticket = _staff_ticket(request, ticket_id)
    return [link_out(link, ticket) for link in _visible_links(request, ticket).order_by("pk")]


@router.post(
    "/tickets/{ticket_id}/links",
    response={201: LinkOut},
    summary="Link this ticket to another (related, or duplicate of the target)",
)
def add_link(request: HttpRequest, ticket_id: int, payload: LinkIn) -> Status[dict[str, Any]]:
    ticket = _staff_ticket(request, ticket_id)
    target = _resolve(selectors.tickets_visible_to(request.user), payload.target_id, "target_id")
    link = services.link_tickets(
        actor=request.user, source=ticket, target=target, kind=payload.kind
    )
    link = TicketLink.objects.select_related("source", "target").get(pk=link.pk)
    return Status(201, link_out(link, ticket))


@router.delete(
    "/tickets/{ticket_id}/links/{link_id}", response={204: None}, summary="Remove a link"
)
def remove_link(request: HttpRequest, ticket_id: int, link_id: int) -> Status[None]:
    ticket = _staff_ticket(request, ticket_id)
    link = get_object_or_404(_visible_links(request, ticket), pk=link_id)
    services.unlink_tickets(actor=request.user, link=link)
    return Status(204, None)
