"""The agent workspace: the inbox, a new ticket, the ticket page and its actions, files.

Every view reads through the tickets selectors, so a ticket outside the person's data scope is
a 404, and changes through one service call. These pages are for staff: a customer contact
gets a 404 on each of them (their pages are the portal's). Attachments are the exception: the
download view serves whoever ``attachments_visible_to`` lets see the file.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.db.models import Max, Q, QuerySet, prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.accounts.models import Team, User
from aftersales.api.pagination import cursor_for, paginate
from aftersales.core.errors import Conflict, DomainError, PreconditionFailed
from aftersales.customers import selectors as customer_selectors
from aftersales.customers.models import Customer, CustomerIdentity
from aftersales.customfields import services as customfields
from aftersales.customfields.errors import FieldErrors
from aftersales.customfields.forms import CustomFieldsForm, form_name
from aftersales.customfields.models import FieldDefinition
from aftersales.knowledge import services as knowledge_services
from aftersales.tickets import filtering, lifecycle, selectors, services
from aftersales.tickets import workspace_forms as wf
from aftersales.tickets.models import (
    Macro,
    SavedView,
    StatusTransition,
    Ticket,
    TicketEvent,
    TicketStatus,
    TicketType,
    form_key_of,
)
from aftersales.tickets.permissions import (
    ADD_NOTE,
    ADD_TICKET,
    CHANGE_TICKET,
    MERGE_TICKET,
    REPLY_TICKET,
    SHARE_VIEW,
    TAKE_TICKET,
    VIEW_TICKET,
)
from aftersales.tickets.workspace_timeline import FIELD_NAMES, describe
from aftersales.web.shortcuts import add_domain_error, file_download, is_htmx, signed_in

TARGET = "tickets.ticket"
PAGE_SIZE = 50
DEFAULT_VIEW = "mine"
POLL_SECONDS = 20
TIMELINE_LIMIT = 300
MAX_FAILURES_SHOWN = 20
SNAPSHOT_SALT = "aftersales.tickets.properties"
Category = TicketStatus.Category

CATEGORY_BADGES: dict[str, str] = {
    Category.NEW: "badge-info",
    Category.OPEN: "badge-warning",
    Category.PENDING_CUSTOMER: "",
    Category.PENDING_INTERNAL: "",
    Category.SOLVED: "badge-success",
    Category.CLOSED: "",
}
PRIORITY_BADGES: dict[int, str] = {
    Ticket.Priority.LOW: "",
    Ticket.Priority.NORMAL: "",
    Ticket.Priority.HIGH: "badge-warning",
    Ticket.Priority.URGENT: "badge-danger",
}
# Form fields of the properties panel that a service error may name.
PROPERTY_FIELDS = ("status", "priority", "ticket_type", "team", "assignee", "tags", "followers")


# --- Who may be here ----------------------------------------------------------------------


def _agent(request: HttpRequest) -> User:
    """The signed-in staff member; these pages do not exist for customer contacts (404)."""
    user = request.user
    if not isinstance(user, User) or user.kind != User.Kind.STAFF:
        raise Http404
    if not authz.has_permission(user, VIEW_TICKET):
        raise HttpPermissionDenied(VIEW_TICKET)
    return user


def _visible(user: User, **lookup: Any) -> Ticket:
    return get_object_or_404(selectors.tickets_visible_to(user), **lookup)


def _by_reference(user: User, reference: str) -> Ticket:
    """A ticket by its number (``REP-202611-0001``) or, for old links, its id."""
    tickets = selectors.tickets_visible_to(user)
    found = tickets.filter(number=reference).first()
    if found is None and reference.isdigit():
        found = tickets.filter(pk=int(reference)).first()
    if found is None:
        raise Http404
    return found


def _people(user: User, *, keep: Iterable[int | None] = ()) -> QuerySet[User]:
    """Staff the person may hand work to: those they can see, always including themselves.
    ``keep`` adds people already on the ticket (its assignee, its followers), so a form shows
    them and sending it back unchanged does not remove someone the agent cannot see."""
    visible = accounts_selectors.users_visible_to(user).values("pk")
    kept = [pk for pk in keep if pk is not None]
    return User.objects.filter(
        Q(pk__in=visible, kind=User.Kind.STAFF, is_active=True) | Q(pk=user.pk) | Q(pk__in=kept)
    ).order_by("display_name", "username", "pk")


def _teams(user: User, business_line_id: int | None = None) -> QuerySet[Team]:
    teams = accounts_selectors.teams_visible_to(user).filter(is_active=True)
    if business_line_id is not None:
        teams = teams.filter(business_line_id=business_line_id)
    return teams.order_by("name", "pk")


def _safe_next(request: HttpRequest, candidate: str | None, fallback: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def ticket_url(ticket: Ticket) -> str:
    return reverse("tickets:ticket_detail", args=[ticket.number])


# --- Inbox --------------------------------------------------------------------------------


@dataclass
class InboxView:
    """A built-in or saved view as the left column shows it."""

    key: str
    label: str
    filters: dict[str, Any]
    sort: str
    kind: str  # "built_in", "personal" or "shared"
    saved: SavedView | None = None
    error: str = ""
    count: int = 0
    more: bool = False


def _built_in_views() -> list[InboxView]:
    return [
        InboxView(
            key=view.key,
            label=str(view.label),
            filters=view.filters,
            sort=view.sort,
            kind="built_in",
        )
        for view in filtering.BUILT_IN_VIEWS
    ]


def _saved_views(user: User) -> list[InboxView]:
    views = []
    for saved in selectors.saved_views_of(user):
        views.append(
            InboxView(
                key=f"saved-{saved.pk}",
                label=saved.name,
                filters=dict(saved.filters or {}),
                sort=saved.sort if saved.sort in filtering.SORTS else filtering.DEFAULT_SORT,
                kind="personal" if saved.owner_id == user.pk else "shared",
                saved=saved,
            )
        )
    return views


def _count(user: User, view: InboxView) -> None:
    try:
        cleaned = filtering.clean_filters(view.filters)
    except DomainError as error:
        view.error = error.detail()
        return
    queryset = filtering.apply_filters(selectors.tickets_visible_to(user), cleaned, user)
    view.count, view.more = filtering.capped_count(queryset)


def _query(request: HttpRequest, **changes: str | None) -> str:
    """The current query string with some keys replaced (None drops a key)."""
    query = request.GET.copy()
    query.pop("partial", None)
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def _filter_form(request: HttpRequest, user: User, *, shown: bool = True) -> wf.FilterForm:
    """The filter bar; when it is not shown (the list refreshing itself) only the custom fields
    it may name are read, not the options of its selects."""
    chosen = request.GET.get("ticket_type", "")
    subtarget = form_key_of(int(chosen)) if chosen.isdigit() else None
    definitions = customfields.definitions_for(TARGET, subtarget)
    if not shown:
        return wf.FilterForm(
            request.GET, ticket_types=(), teams=(), people=(), tiers=(), custom_fields=definitions
        )
    type_ids = selectors.ticket_types_usable_by(user).values("pk")
    visible_ids = selectors.ticket_types_visible_to(user).values("pk")
    ticket_types = (
        TicketType.objects.filter(Q(pk__in=type_ids) | Q(pk__in=visible_ids))
        .select_related("business_line")
        .order_by("business_line__name", "position", "pk")
    )
    return wf.FilterForm(
        request.GET,
        ticket_types=ticket_types,
        teams=_teams(user),
        people=_people(user),
        tiers=customer_selectors.tiers_visible_to(user),
        custom_fields=definitions,
    )


def _bar_filters(form: wf.FilterForm) -> dict[str, Any]:
    """The filter bar's cleaned filters. A refused key gets its error next to its input and is
    left out, so the rest of what was asked for still narrows the list."""
    raw = form.raw_filters()
    form.is_valid()
    for _attempt in range(len(raw) + 1):
        try:
            return filtering.clean_filters(raw)
        except DomainError as error:
            key = error.field if error.field in raw else None
            form.add_error(key if key in form.fields else None, error.detail())
            if key is None:
                return {}
            raw.pop(key)
    return {}


@dataclass
class ListPage:
    tickets: list[Ticket]
    next_url: str | None = None
    previous_url: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


def _page(request: HttpRequest, queryset: QuerySet[Ticket], sort: str) -> ListPage:
    order_field, descending = filtering.SORTS[sort]
    before = request.GET.get("before") or None
    cursor = request.GET.get("cursor") or None
    try:
        if before:
            page = paginate(
                queryset,
                cursor=before,
                limit=PAGE_SIZE,
                order_field=order_field,
                descending=not descending,
            )
            tickets = list(reversed(page.items))
            has_previous, has_next = page.next_cursor is not None, True
        else:
            page = paginate(
                queryset,
                cursor=cursor,
                limit=PAGE_SIZE,
                order_field=order_field,
                descending=descending,
            )
            tickets = list(page.items)
            has_previous, has_next = cursor is not None, page.next_cursor is not None
    except DomainError as error:
        messages.error(request, error.detail())
        return _page_from_start(queryset, order_field, descending)
    result = ListPage(tickets=tickets)
    if tickets and has_next:
        result.next_url = _query(request, cursor=cursor_for(tickets[-1], order_field), before=None)
    if tickets and has_previous:
        result.previous_url = _query(
            request, before=cursor_for(tickets[0], order_field), cursor=None
        )
    return result


def _page_from_start(queryset: QuerySet[Ticket], order_field: str, descending: bool) -> ListPage:
    page = paginate(
        queryset, cursor=None, limit=PAGE_SIZE, order_field=order_field, descending=descending
    )
    return ListPage(tickets=list(page.items))


def _rows(tickets: list[Ticket]) -> list[dict[str, Any]]:
    prefetch_related_objects(tickets, "tag_rows")
    return [
        {
            "ticket": ticket,
            "url": ticket_url(ticket),
            "tags": [tag.name for tag in ticket.tag_rows.all()],
            "status_badge": CATEGORY_BADGES.get(ticket.status_category, ""),
            "priority_badge": PRIORITY_BADGES.get(ticket.priority, ""),
        }
        for ticket in tickets
    ]


SORTABLE_COLUMNS = (("priority", "priority"), ("created", "created_at"), ("updated", "updated_at"))


def _sort_links(request: HttpRequest, sort: str) -> dict[str, dict[str, str]]:
    links = {}
    for column, name in SORTABLE_COLUMNS:
        descending = f"-{name}"
        target = name if sort == descending else descending
        state = "descending" if sort == descending else ("ascending" if sort == name else "")
        links[column] = {
            "url": _query(request, sort=target, cursor=None, before=None),
            "state": state,
        }
    return links


@require_GET
@signed_in
def inbox(request: HttpRequest) -> HttpResponse:
    """Views with their counts, the filter bar, a page of tickets, bulk actions."""
    user = _agent(request)
    built_in = _built_in_views()
    saved = _saved_views(user)
    by_key = {view.key: view for view in [*built_in, *saved]}
    view_key = request.GET.get("view") or DEFAULT_VIEW
    current = by_key.get(view_key)
    if current is None:
        raise Http404
    partial = request.GET.get("partial") == "list"
    form = _filter_form(request, user, shown=not partial)
    bar = _bar_filters(form)
    try:
        view_filters = filtering.clean_filters(current.filters)
    except DomainError as error:
        form.add_error(
            None, _("This view cannot be shown: %(reason)s") % {"reason": error.detail()}
        )
        view_filters = {}
    try:
        sort = filtering.clean_sort(request.GET.get("sort") or current.sort)
    except DomainError as error:
        form.add_error(None, error.detail())
        sort = filtering.DEFAULT_SORT
    queryset = filtering.apply_filters(
        selectors.tickets_visible_to(user), {**view_filters, **bar}, user
    )
    page = _page(request, queryset, sort)
    page.rows = _rows(page.tickets)
    context: dict[str, Any] = {
        "current": current,
        "page": page,
        "sort": sort,
        "sort_links": _sort_links(request, sort),
        "poll_url": _query(request, partial="list"),
        "poll_seconds": POLL_SECONDS,
        "back_url": request.get_full_path(),
        "may_take": authz.has_permission(user, TAKE_TICKET),
    }
    if partial:
        return render(request, "tickets/workspace/_list.html", context)
    for view in [*built_in, *saved]:
        _count(user, view)
    context.update(
        form=form,
        built_in=built_in,
        personal=[v for v in saved if v.kind == "personal"],
        shared=[v for v in saved if v.kind == "shared"],
        bulk=wf.BulkForm(people=_people(user)),
        save_view=wf.SaveViewForm(
            initial={
                "filters": json.dumps({**current.filters, **form.raw_filters()}),
                "sort": sort,
                "next": request.get_full_path(),
            },
            may_share=authz.has_permission(user, SHARE_VIEW),
        ),
        may_edit_view=current.saved is not None
        and services.may_edit_saved_view(user, current.saved),
        may_add=authz.has_permission(user, ADD_TICKET),
        may_change=authz.has_permission(user, CHANGE_TICKET),
        may_merge=authz.has_permission(user, MERGE_TICKET),
    )
    return render(request, "tickets/workspace/inbox.html", context)


# --- Bulk actions ---------------------------------------------------------------------------


def _report(request: HttpRequest, result: services.BulkResult, numbers: dict[int, str]) -> None:
    if result.updated:
        count = len(result.updated)
        messages.success(
            request,
            ngettext(
                "%(count)s ticket has been changed.", "%(count)s tickets have been changed.", count
            )
            % {"count": count},
        )
    failures = sorted(result.failed.items(), key=lambda item: numbers.get(item[0], ""))
    for pk, reason in failures[:MAX_FAILURES_SHOWN]:
        messages.error(
            request,
            _("%(number)s was not changed: %(reason)s")
            % {"number": numbers.get(pk, pk), "reason": reason},
        )
    if len(failures) > MAX_FAILURES_SHOWN:
        rest = len(failures) - MAX_FAILURES_SHOWN
        messages.error(
            request,
            ngettext(
                "%(count)s more ticket was not changed.",
                "%(count)s more tickets were not changed.",
                rest,
            )
            % {"count": rest},
        )


def _bulk_status(user: User, tickets: list[Ticket], category: str) -> services.BulkResult:
    """Tickets of different types have different statuses: each type moves to its first
    status of the chosen category, one service call per type."""
    by_type: dict[int, list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        by_type[ticket.ticket_type_id].append(ticket)
    updated: list[Ticket] = []
    failed: dict[int, str] = {}
    for group in by_type.values():
        try:
            target = services.status_of_category(group[0].ticket_type, category)
        except DomainError as error:
            failed.update({t.pk: error.detail() for t in group})
            continue
        result = services.bulk_update_tickets(actor=user, tickets=group, changes={"status": target})
        updated += result.updated
        failed.update(result.failed)
    return services.BulkResult(updated=updated, failed=failed)


@require_POST
@signed_in
def bulk_action(request: HttpRequest) -> HttpResponse:
    """Assign, move, tag or merge the ticked tickets; each ticket that refuses is named."""
    user = _agent(request)
    people = _people(user)
    form = wf.BulkForm(request.POST, people=people)
    back = _safe_next(request, request.POST.get("next"), reverse("tickets:inbox"))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(back)
    data = form.cleaned_data
    tickets = list(
        selectors.tickets_visible_to(user).filter(pk__in=data["ticket"]).order_by("-updated_at")
    )
    if not tickets:
        raise Http404
    numbers = {t.pk: t.number for t in tickets}
    action = data["action"]
    if action == wf.BULK_MERGE:
        return _bulk_merge(request, user, form, tickets, back)
    if action == wf.BULK_ASSIGN:
        assignee = None
        if data["assignee"] != "none":
            assignee = people.filter(pk=int(data["assignee"])).first()
            if assignee is None:
                messages.error(request, _("Choose who gets the tickets."))
                return redirect(back)
        result = services.bulk_update_tickets(
            actor=user, tickets=tickets, changes={"assignee": assignee}
        )
    elif action == wf.BULK_STATUS:
        result = _bulk_status(user, tickets, data["category"])
    else:
        result = services.bulk_update_tickets(
            actor=user, tickets=tickets, changes={"add_tags": data["tag_list"]}
        )
    _report(request, result, numbers)
    return redirect(back)


def _bulk_merge(
    request: HttpRequest, user: User, form: wf.BulkForm, tickets: list[Ticket], back: str
) -> HttpResponse:
    """Step 1: choose the ticket that continues. Step 2 (``confirm``): merge the others in."""
    data = form.cleaned_data
    survivor = next((t for t in tickets if t.pk == data.get("survivor")), None)
    if survivor is None or not data.get("confirm"):
        return render(
            request,
            "tickets/workspace/bulk_merge.html",
            {"tickets": tickets, "back_url": back, "chosen": survivor or tickets[-1]},
        )
    merged = [t for t in tickets if t.pk != survivor.pk]
    try:
        result = services.merge_tickets(actor=user, survivor=survivor, merged=merged)
    except DomainError as error:
        if error.status == 404:
            raise Http404 from None
        messages.error(request, error.detail())
        return redirect(back)
    messages.success(
        request,
        _("%(numbers)s have been merged into %(survivor)s.")
        % {
            "numbers": ", ".join(t.number for t in result.merged),
            "survivor": result.survivor.number,
        },
    )
    return redirect(ticket_url(result.survivor))


# --- Saved views ----------------------------------------------------------------------------


@require_POST
@signed_in
def saved_view_create(request: HttpRequest) -> HttpResponse:
    """Keep the inbox's current filters and sort as a named view (personal, or shared)."""
    user = _agent(request)
    form = wf.SaveViewForm(request.POST, may_share=authz.has_permission(user, SHARE_VIEW))
    back = _safe_next(request, request.POST.get("next"), reverse("tickets:inbox"))
    if not form.is_valid():
        for field_errors in form.errors.values():
            for error in field_errors:
                messages.error(request, str(error))
        return redirect(back)
    data = form.cleaned_data
    try:
        view = services.create_saved_view(
            actor=user,
            name=data["name"],
            filters=data["filters"],
            sort=data["sort"] or filtering.DEFAULT_SORT,
            is_shared=data["is_shared"],
        )
    except DomainError as error:
        if error.status == 403 and error.field is None:
            raise HttpPermissionDenied(error.detail()) from None
        messages.error(request, error.detail())
        return redirect(back)
    messages.success(request, _("The view %(name)s has been saved.") % {"name": view.name})
    return redirect(f"{reverse('tickets:inbox')}?view=saved-{view.pk}")


@require_POST
@signed_in
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = _agent(request)
    view = get_object_or_404(selectors.saved_views_of(user), pk=pk)
    services.delete_saved_view(actor=user, view=view)
    messages.success(request, _("The view %(name)s has been deleted.") % {"name": view.name})
    return redirect("tickets:inbox")


# --- Custom fields on the pages -------------------------------------------------------------


def _definitions(ticket_type: TicketType | None) -> list[FieldDefinition]:
    if ticket_type is None:
        return []
    return customfields.definitions_for(TARGET, form_key_of(ticket_type.pk))


def _custom_form(
    data: QueryDict | None,
    definitions: list[FieldDefinition],
    values: dict[str, Any],
    user: User,
) -> CustomFieldsForm:
    bound = wf.join_cascade_levels(data, definitions) if data is not None else None
    form = CustomFieldsForm(bound, definitions=definitions, values=values, actor=user)
    wf.loosen_cascades(form)
    return form


def _field_label(key: str, definitions: dict[str, FieldDefinition]) -> str:
    definition = definitions.get(key)
    if definition is not None:
        return definition.label(translation.get_language() or "en")
    return str(FIELD_NAMES.get(key, key.replace("_", " ")))


# --- New ticket -----------------------------------------------------------------------------


def _chosen_type(types: QuerySet[TicketType], raw: str | None) -> TicketType | None:
    if raw and raw.isdigit():
        return types.filter(pk=int(raw)).first()
    if types.count() == 1:
        return types.first()
    return None


def _new_ticket_forms(
    request: HttpRequest, user: User, data: QueryDict | None
) -> tuple[wf.TicketForm, CustomFieldsForm, TicketType | None]:
    types = selectors.ticket_types_usable_by(user).order_by("business_line__name", "position")
    source = data if data is not None else request.GET
    chosen = _chosen_type(types, source.get("ticket_type"))
    customers = customer_selectors.customers_visible_to(user).filter(is_active=True)
    initial: dict[str, Any] = {"ticket_type": chosen}
    requester = request.GET.get("requester", "")
    if requester.isdigit():
        initial["requester"] = customers.filter(pk=int(requester)).first()
    form = wf.TicketForm(
        data,
        ticket_types=types,
        customers=customers,
        teams=_teams(user, chosen.business_line_id) if chosen else Team.objects.none(),
        people=_people(user),
        initial=initial,
    )
    # Another type brings other fields: re-render them (htmx) without losing what was typed.
    form.fields["ticket_type"].widget.attrs.update(
        {
            "hx-post": reverse("tickets:ticket_create"),
            "hx-trigger": "change",
            "hx-vals": '{"preview": "1"}',
            "hx-target": "#type-fields",
            "hx-swap": "outerHTML",
            "hx-sync": "#type-fields:replace",
        }
    )
    definitions = _definitions(chosen)
    defaults = {d.key: d.default for d in definitions if d.default is not None}
    custom = _custom_form(data, definitions, defaults, user)
    return form, custom, chosen


def _requester_choice(form: wf.TicketForm) -> Customer | None:
    """The requester to show as chosen: what was posted, else the initial one."""
    if form.is_bound:
        raw = form.data.get("requester", "")
        if not raw.isdigit():
            return None
        queryset = form.fields["requester"].queryset  # type: ignore[attr-defined]
        found: Customer | None = queryset.filter(pk=int(raw)).first()
        return found
    initial: Customer | None = form.initial.get("requester")
    return initial


def _new_ticket_context(
    form: wf.TicketForm, custom: CustomFieldsForm, chosen: TicketType | None
) -> dict[str, Any]:
    requester = _requester_choice(form)
    return {
        "form": form,
        "custom": custom,
        "sections": wf.custom_field_sections(custom),
        "chosen_type": chosen,
        "requester": requester,
        "requester_list": [requester] if requester is not None else [],
    }


@require_http_methods(["GET", "POST"])
@signed_in
def ticket_create(request: HttpRequest) -> HttpResponse:
    """A new ticket: type, requester, what happened, and the type's own form. Changing the type
    or a custom field re-renders the type's fields (htmx) with their conditions applied."""
    user = _agent(request)
    if not authz.has_permission(user, ADD_TICKET):
        raise HttpPermissionDenied(ADD_TICKET)
    data = request.POST if request.method == "POST" else None
    form, custom, chosen = _new_ticket_forms(request, user, data)
    if data is not None and is_htmx(request) and data.get("preview") == "1":
        wf.silence(form)
        wf.silence(custom)
        return render(
            request,
            "tickets/workspace/_new_fields.html",
            _new_ticket_context(form, custom, chosen),
        )
    if data is not None:
        forms_valid = form.is_valid()
        custom_valid = custom.is_valid()
        custom_valid = wf.custom_values_valid(custom, chosen, user, "staff") and custom_valid
        if forms_valid and custom_valid:
            values = form.cleaned_data
            try:
                ticket = services.create_ticket(
                    actor=user,
                    ticket_type=values["ticket_type"],
                    requester=values["requester"],
                    subject=values["subject"],
                    description=values["description"],
                    priority=values["priority"],
                    team=values["team"],
                    assignee=values["assignee"],
                    tags=wf.split_tags(values["tags"]),
                    custom_fields=custom.submitted_values(),
                )
            except FieldErrors as error:
                custom.add_field_errors(error)
            except DomainError as error:
                add_domain_error(form, error, show_denied=True)
            else:
                messages.success(
                    request, _("Ticket %(number)s has been created.") % {"number": ticket.number}
                )
                return redirect(ticket_url(ticket))
    status = 422 if data is not None else 200
    return render(
        request,
        "tickets/workspace/ticket_new.html",
        _new_ticket_context(form, custom, chosen),
        status=status,
    )


@require_GET
@signed_in
def customer_search(request: HttpRequest) -> HttpResponse:
    """Customers the agent can see whose name or identity (phone, e-mail…) matches, as radio
    buttons for the new-ticket form; the one already chosen stays first."""
    user = _agent(request)
    customers = customer_selectors.customers_visible_to(user).filter(is_active=True)
    text = request.GET.get("requester_q", "").strip()[:100]
    chosen_raw = request.GET.get("requester", "")
    chosen = customers.filter(pk=int(chosen_raw)).first() if chosen_raw.isdigit() else None
    found: list[Customer] = []
    if text:
        identities = CustomerIdentity.objects.filter(value__icontains=text).values("customer_id")
        found = list(
            customers.filter(Q(name__icontains=text) | Q(pk__in=identities)).order_by("name", "pk")[
                :10
            ]
        )
    if chosen is not None:
        found = [chosen, *(c for c in found if c.pk != chosen.pk)]
    return render(
        request,
        "tickets/workspace/_customer_results.html",
        {"customers": found, "chosen": chosen, "searched": bool(text)},
    )


# --- The ticket page ------------------------------------------------------------------------


def _minute(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _snapshot(ticket: Ticket) -> dict[str, Any]:
    """What the properties panel shows, to tell later what the person changed (and the newest
    timeline entry, to tell what others changed meanwhile)."""
    last_event = TicketEvent.objects.filter(ticket=ticket).aggregate(last=Max("pk"))["last"]
    return {
        "version": ticket.version,
        "event": last_event or 0,
        "priority": ticket.priority,
        "ticket_type": ticket.ticket_type_id,
        "team": ticket.team_id,
        "assignee": ticket.assignee_id,
        "tags": sorted(selectors.tags_of(ticket)),
        "followers": sorted(selectors.followers_of(ticket).values_list("pk", flat=True)),
        "due_at": _minute(ticket.due_at),
        "custom_fields": dict(ticket.custom_fields or {}),
    }


def _sign(snapshot: dict[str, Any]) -> str:
    return signing.dumps(snapshot, salt=SNAPSHOT_SALT, compress=True)


def _unsign(value: str | None) -> dict[str, Any] | None:
    try:
        loaded = signing.loads(value or "", salt=SNAPSHOT_SALT)
    except signing.BadSignature:
        return None
    return loaded if isinstance(loaded, dict) else None


def _initial(snapshot: dict[str, Any]) -> dict[str, Any]:
    due = parse_datetime(snapshot["due_at"]) if snapshot.get("due_at") else None
    return {
        "status": "",
        "priority": snapshot["priority"],
        "ticket_type": snapshot["ticket_type"],
        "team": snapshot["team"],
        "assignee": snapshot["assignee"],
        "tags": wf.tags_text(snapshot["tags"]),
        "followers": snapshot["followers"],
        "due_at": timezone.make_aware(due) if due is not None and timezone.is_naive(due) else due,
        "loaded": _sign(snapshot),
    }


@dataclass
class Panel:
    """The properties panel: built-in fields, the type's custom fields, and what the chosen
    status change asks for."""

    form: wf.PropertiesForm
    custom: CustomFieldsForm
    snapshot: dict[str, Any]
    transition: StatusTransition | None
    ticket_type: TicketType
    needed: list[str] = field(default_factory=list)

    @property
    def sections(self) -> list[dict[str, Any]]:
        return wf.custom_field_sections(self.custom, self.needed)

    @property
    def needed_labels(self) -> list[str]:
        return [_field_label(key, self.custom.definitions) for key in self.needed]


def _panel(
    user: User,
    ticket: Ticket,
    *,
    data: QueryDict | None = None,
    snapshot: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    custom_overrides: dict[str, Any] | None = None,
) -> Panel:
    transitions = lifecycle.available_transitions(
        ticket.ticket_type, ticket.status, actor=user, facts=services.facts_of(ticket)
    )
    usable = selectors.ticket_types_usable_by(user).values("pk")
    types = (
        TicketType.objects.filter(Q(pk__in=usable) | Q(pk=ticket.ticket_type_id))
        .select_related("business_line")
        .order_by("business_line__name", "position", "pk")
    )
    chosen_type = ticket.ticket_type
    raw_type = data.get("ticket_type", "") if data is not None else ""
    if isinstance(raw_type, str) and raw_type.isdigit():
        chosen_type = types.filter(pk=int(raw_type)).first() or ticket.ticket_type
    teams = _teams(user, chosen_type.business_line_id)
    if ticket.team_id is not None:
        teams = Team.objects.filter(Q(pk__in=teams.values("pk")) | Q(pk=ticket.team_id))
    snapshot = snapshot or _snapshot(ticket)
    type_changed = chosen_type.pk != ticket.ticket_type_id
    form = wf.PropertiesForm(
        data,
        transitions=[] if type_changed else transitions,
        current_status=ticket.status,
        ticket_types=types,
        teams=teams.order_by("name", "pk"),
        people=_people(user, keep=[ticket.assignee_id, *snapshot["followers"]]),
        initial={**_initial(snapshot), **(overrides or {})},
    )
    values = {**snapshot["custom_fields"], **(custom_overrides or {})}
    custom = _custom_form(data, _definitions(chosen_type), values, user)
    transition = form.chosen_transition() if data is not None else None
    if transition is None and overrides and overrides.get("status"):
        transition = form.transitions.get(str(overrides["status"]))
    return Panel(
        form=form,
        custom=custom,
        snapshot=snapshot,
        transition=transition,
        ticket_type=chosen_type,
        needed=list(transition.required_fields) if transition is not None else [],
    )


def _mark_needed(panel: Panel) -> None:
    """Show the fields the chosen status change needs as required (after validation, so the
    message naming the status comes from the required-field check, not from the form)."""
    for key in panel.needed:
        if key in panel.form.fields:
            panel.form.fields[key].required = True
        name = form_name(key)
        if name in panel.custom.fields:
            panel.custom.fields[name].required = True


def _comment_kinds(user: User, ticket: Ticket) -> list[str]:
    kinds = []
    if authz.has_permission(user, REPLY_TICKET, ticket):
        kinds.append(wf.PUBLIC)
    if authz.has_permission(user, ADD_NOTE, ticket):
        kinds.append(wf.INTERNAL)
    return kinds


def _render_ticket(
    request: HttpRequest,
    user: User,
    ticket: Ticket,
    *,
    panel: Panel | None = None,
    comment_form: wf.CommentForm | None = None,
    link_form: wf.LinkForm | None = None,
    merge_form: wf.MergeIntoForm | None = None,
    notice: list[Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    may_change = authz.has_permission(user, CHANGE_TICKET, ticket)
    kinds = _comment_kinds(user, ticket)
    panel = panel or _panel(user, ticket)
    _mark_needed(panel)
    comments = list(
        selectors.comments_visible_to(user, ticket).prefetch_related(
            "attachments", "original_ticket"
        )
    )
    loose_files = list(
        selectors.attachments_visible_to(user).filter(ticket=ticket, comment__isnull=True)
    )
    events = list(selectors.events_of(ticket).order_by("-created_at", "-pk")[:TIMELINE_LIMIT])
    requester = ticket.requester
    customer_visible = (
        customer_selectors.customers_visible_to(user).filter(pk=requester.pk).exists()
    )
    context = {
        "ticket": ticket,
        "status_badge": CATEGORY_BADGES.get(ticket.status_category, ""),
        "priority_badge": PRIORITY_BADGES.get(ticket.priority, ""),
        "tags": selectors.tags_of(ticket),
        "followers": list(selectors.followers_of(ticket)),
        "comments": comments,
        "loose_files": loose_files,
        "timeline": describe(reversed(events)),
        "panel": panel,
        "comment_form": comment_form or wf.CommentForm(kinds=kinds),
        "link_form": link_form or wf.LinkForm(),
        "merge_form": merge_form or wf.MergeIntoForm(),
        "links": _links(ticket),
        "custom_field_rows": customfields.render_values(
            TARGET,
            ticket.form_key,
            ticket.custom_fields,
            translation.get_language() or "en",
            versions=ticket.custom_field_versions,
        ),
        "requester": requester,
        "customer_visible": customer_visible,
        "identities": list(requester.identities.filter(is_active=True).order_by("kind", "value")),
        "previous": selectors.previous_tickets_of(user, ticket),
        "notice": notice,
        "may_change": may_change,
        "may_take": ticket.assignee_id is None and authz.has_permission(user, TAKE_TICKET, ticket),
        "may_merge": authz.has_permission(user, MERGE_TICKET, ticket)
        and ticket.merged_into_id is None,
        "may_comment": bool(kinds),
        "may_split": may_change and authz.has_permission(user, ADD_TICKET),
        "merged_into": ticket.merged_into,
        "macros": list(_macros_for(user, ticket)) if may_change else [],
        "back_url": request.get_full_path(),
    }
    return render(request, "tickets/workspace/ticket_detail.html", context, status=status)


def _links(ticket: Ticket) -> list[dict[str, Any]]:
    rows = []
    for link in selectors.links_of(ticket):
        outgoing = link.source_id == ticket.pk
        other = link.target if outgoing else link.source
        label = link.get_kind_display()
        if link.kind == link.Kind.DUPLICATE_OF and not outgoing:
            label = _("Has duplicate")
        rows.append({"link": link, "other": other, "label": label, "url": ticket_url(other)})
    return rows


@require_GET
@signed_in
def ticket_detail(request: HttpRequest, reference: str) -> HttpResponse:
    user = _agent(request)
    ticket = _by_reference(user, reference)
    if reference != ticket.number:
        return redirect(ticket_url(ticket))
    return _render_ticket(request, user, ticket)


# --- Properties: change, with stale-write protection ----------------------------------------


def _changes(panel: Panel, ticket: Ticket) -> dict[str, Any]:
    """Only what the person changed against the values their page showed."""
    data = panel.form.cleaned_data
    loaded = panel.snapshot
    changes: dict[str, Any] = {}
    if data["priority"] != loaded["priority"]:
        changes["priority"] = data["priority"]
    if data["ticket_type"].pk != loaded["ticket_type"]:
        changes["ticket_type"] = data["ticket_type"]
    for name in ("team", "assignee"):
        chosen = data[name]
        if (chosen.pk if chosen is not None else None) != loaded[name]:
            changes[name] = chosen
    tags = wf.split_tags(data["tags"])
    if sorted(tags) != loaded["tags"]:
        changes["tags"] = tags
    followers = list(data["followers"])
    if sorted(p.pk for p in followers) != loaded["followers"]:
        changes["followers"] = followers
    if _minute(data["due_at"]) != loaded["due_at"]:
        changes["due_at"] = data["due_at"]
    if panel.transition is not None:
        changes["status"] = panel.transition.to_status
    custom = wf.changed_custom_values(
        panel.custom.submitted_values(), loaded["custom_fields"], panel.custom.definitions
    )
    if custom:
        changes["custom_fields"] = custom
    return changes


def _missing_for_transition(panel: Panel, ticket: Ticket, changes: dict[str, Any]) -> list[str]:
    """The fields the chosen status change needs that would still be empty after the save,
    all at once (the service names only the first)."""
    if panel.transition is None:
        return []
    values = services.values_of(ticket)
    for name in ("team", "assignee", "due_at"):
        if name in changes:
            value = changes[name]
            values[name] = getattr(value, "pk", value)
    merged = {**(ticket.custom_fields or {}), **changes.get("custom_fields", {})}
    definitions = {d.key: d for d in panel.custom.definitions.values()}
    shown = customfields.visibility(definitions, merged)
    for key in definitions:
        values[key] = merged.get(key) if shown.get(key) else None
    return lifecycle.missing_fields(panel.transition, values)


def _show_missing(panel: Panel, missing: list[str]) -> None:
    status_name = panel.transition.to_status.name if panel.transition else ""
    for key in missing:
        label = _field_label(key, panel.custom.definitions)
        message = _("Fill in %(field)s to move to %(status)s.") % {
            "field": label,
            "status": status_name,
        }
        if key in panel.form.fields:
            panel.form.add_error(key, message)
        elif form_name(key) in panel.custom.fields:
            panel.custom.add_error(form_name(key), message)
        else:
            panel.form.add_error(None, message)


def _show_service_error(panel: Panel, error: DomainError) -> None:
    if isinstance(error, FieldErrors):
        panel.custom.add_field_errors(error)
        return
    name = error.field or ""
    if name in ("to", "guard"):
        name = "status"
    if name in PROPERTY_FIELDS or name == "due_at":
        panel.form.add_error(name, error.detail())
    elif form_name(name) in panel.custom.fields:
        panel.custom.add_error(form_name(name), error.detail())
    else:
        add_domain_error(panel.form, error, show_denied=True)


def _after_conflict(
    request: HttpRequest, user: User, ticket_pk: int, panel: Panel, changes: dict[str, Any]
) -> HttpResponse:
    """Someone saved first. Show the current ticket with the person's own edits still in the
    form, and what the other person changed; nothing is written until they save again."""
    current = _visible(user, pk=ticket_pk)
    newer = list(
        selectors.events_of(current)
        .filter(pk__gt=panel.snapshot.get("event", 0))
        .order_by("created_at", "pk")
    )
    overrides: dict[str, Any] = {}
    for name in ("priority", "ticket_type", "team", "assignee", "due_at"):
        if name in changes:
            overrides[name] = changes[name]
    if "tags" in changes:
        overrides["tags"] = wf.tags_text(changes["tags"])
    if "followers" in changes:
        overrides["followers"] = [p.pk for p in changes["followers"]]
    if "status" in changes:
        overrides["status"] = str(changes["status"].pk)
    fresh = _panel(
        user,
        current,
        overrides=overrides,
        custom_overrides=changes.get("custom_fields", {}),
    )
    fresh.form.fields["status"].initial = overrides.get("status", "")
    return _render_ticket(request, user, current, panel=fresh, notice=describe(newer), status=409)


@require_POST
@signed_in
def ticket_properties(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the side panel; with ``preview`` (htmx, on every change) only re-render it."""
    user = _agent(request)
    ticket = _visible(user, pk=pk)
    snapshot = _unsign(request.POST.get("loaded"))
    preview = is_htmx(request) and request.POST.get("preview") == "1"
    panel = _panel(user, ticket, data=request.POST, snapshot=snapshot)
    if preview:
        wf.silence(panel.form)
        wf.silence(panel.custom)
        _mark_needed(panel)
        return render(
            request,
            "tickets/workspace/_properties.html",
            {
                "ticket": ticket,
                "panel": panel,
                "may_change": authz.has_permission(user, CHANGE_TICKET, ticket),
            },
        )
    if not authz.has_permission(user, CHANGE_TICKET, ticket):
        raise HttpPermissionDenied(CHANGE_TICKET)
    if snapshot is None:
        panel.form.add_error(None, _("The page was too old to save. Reload it and try again."))
        return _render_ticket(request, user, ticket, panel=panel, status=400)
    forms_valid = panel.form.is_valid()
    custom_valid = panel.custom.is_valid()
    if not (forms_valid and custom_valid):
        return _render_ticket(request, user, ticket, panel=panel, status=422)
    changes = _changes(panel, ticket)
    if not changes:
        messages.info(request, _("Nothing was changed."))
        return redirect(ticket_url(ticket))
    missing = _missing_for_transition(panel, ticket, changes)
    if missing:
        _show_missing(panel, missing)
        return _render_ticket(request, user, ticket, panel=panel, status=422)
    try:
        services.update_ticket(
            actor=user, ticket=ticket, changes=changes, expected_version=snapshot["version"]
        )
    except PreconditionFailed:
        return _after_conflict(request, user, ticket.pk, panel, changes)
    except DomainError as error:
        if error.status == 404:
            raise Http404 from None
        _show_service_error(panel, error)
        return _render_ticket(request, user, ticket, panel=panel, status=error.status)
    messages.success(request, _("The ticket has been saved."))
    return redirect(ticket_url(ticket))


# --- Take, reply, links, merge, split -------------------------------------------------------


@require_POST
@signed_in
def ticket_take(request: HttpRequest, pk: int) -> HttpResponse:
    """Take an unassigned ticket; of two agents pressing at once, one gets it and the other is
    told who has it."""
    user = _agent(request)
    ticket = _visible(user, pk=pk)
    back = _safe_next(request, request.POST.get("next"), ticket_url(ticket))
    try:
        services.take_ticket(actor=user, ticket=ticket)
    except Conflict as error:
        messages.error(request, error.detail())
    else:
        messages.success(request, _("You have taken %(number)s.") % {"number": ticket.number})
    return redirect(back)


@require_POST
@signed_in
def ticket_comment(request: HttpRequest, pk: int) -> HttpResponse:
    user = _agent(request)
    ticket = _visible(user, pk=pk)
    form = wf.CommentForm(request.POST, request.FILES, kinds=_comment_kinds(user, ticket))
    if form.is_valid():
        is_public = form.cleaned_data["visibility"] == wf.PUBLIC
        try:
            comment = services.add_comment(
                actor=user,
                ticket=ticket,
                body=form.cleaned_data["body"],
                is_public=is_public,
                files=form.cleaned_data["attachments"],
            )
        except DomainError as error:
            error.field = {"is_public": "visibility", "files": "attachments"}.get(
                error.field or "", error.field
            )
            add_domain_error(form, error)
        else:
            knowledge_services.record_inserted_articles(
                actor=user,
                ticket=ticket,
                comment=comment,
                inserted=form.cleaned_data["inserted_articles"],
            )
            messages.success(
                request,
                _("Your reply has been sent.") if is_public else _("Your note has been added."),
            )
            return redirect(f"{ticket_url(ticket)}#comment-{comment.pk}")
    return _render_ticket(request, user, ticket, comment_form=form, status=422)


def _other_ticket(user: User, number: str) -> Ticket | None:
    reference = number.strip()
    tickets = selectors.tickets_visible_to(user)
    return tickets.filter(number__iexact=reference).first()


@require_POST
@signed_in
def link_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = _agent(request)
    ticket = _visible(user, pk=pk)
    form = wf.LinkForm(request.POST)
    if form.is_valid():
        other = _other_ticket(user, form.cleaned_data["number"])
        if other is None:
            form.add_error("number", _("No ticket you can see has this number."))
        else:
            try:
                services.link_tickets(
                    actor=user, source=ticket, target=other, kind=form.cleaned_data["kind"]
                )
            except DomainError as error:
                if error.field == "target":
                    error.field = "number"
                add_domain_error(form, error)
            else:
                messages.success(request, _("The tickets have been linked."))
                return redirect(f"{ticket_url(ticket)}#links")
    return _render_ticket(request, user, ticket, link_form=form, status=422)


@require_POST
@signed_in
def link_remove(request: HttpRequest, pk: int, link_pk: int) -> HttpResponse:
    user = _agent(request)
    ticket = _visible(user, pk=pk)
    link = get_object_or_404(selectors.links_of(ticket), pk=link_pk)
    services.unlink_tickets(actor=user, link=link)
    messages.success(request, _("The link has been removed."))
    return redirect(f"{ticket_url(ticket)}#links")


@require_POST
@signed_in
def ticket_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Merge this ticket into another: its conversation moves there and it is closed."""
    user = _agent(request)
    ticket = _visible(user, pk=pk)
    form = wf.MergeIntoForm(request.POST)
    if form.is_valid():
        survivor = _other_ticket(user, form.cleaned_data["number"])
        if survivor is None:
            form.add_error("number", _("No ticket you can see has this number."))
        else:
            try:
                result = services.merge_tickets(actor=user, survivor=survivor, merged=[ticket])
            except DomainError as error:
                form.add_error("number", error.detail())
            else:
                messages.success(
                    request,
                    _("%(merged)s has been merged into %(survivor)s.")
                    % {"merged": ticket.number, "survivor": result.survivor.number},
                )
                return redirect(ticket_url(result.survivor))
    return _render_ticket(request, user, ticket, merge_form=form, status=422)


@require_POST
@signed_in
def ticket_split(request: HttpRequest, pk: int, comment_pk: int) -> HttpResponse:
    """Turn one message into a new ticket of the same requester, linked to this one."""
    user = _agent(request)
    ticket = _visible(user, pk=pk)
    comment = get_object_or_404(selectors.comments_visible_to(user, ticket), pk=comment_pk)
    form = wf.SplitForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the new ticket a subject."))
        return redirect(f"{ticket_url(ticket)}#comment-{comment.pk}")
    try:
        new = services.split_ticket(
            actor=user, comment=comment, subject=form.cleaned_data["subject"]
        )
    except DomainError as error:
        if error.status == 404:
            raise Http404 from None
        messages.error(request, error.detail())
        return redirect(f"{ticket_url(ticket)}#comment-{comment.pk}")
    messages.success(
        request,
        _("The message has been split off into %(number)s.") % {"number": new.number},
    )
    return redirect(ticket_url(new))


@require_POST
@signed_in
def ticket_macro(request: HttpRequest, pk: int) -> HttpResponse:
    """Apply a macro: its field changes and its message, all or nothing."""
    user = _agent(request)
    ticket = _visible(user, pk=pk)
    macro_id = request.POST.get("macro", "")
    macro = (
        _macros_for(user, ticket).filter(pk=int(macro_id)).first() if macro_id.isdigit() else None
    )
    if macro is None:
        messages.error(request, _("Choose a macro."))
        return redirect(f"{ticket_url(ticket)}#macros")
    version = request.POST.get("version", "")
    try:
        services.apply_macro(
            actor=user,
            ticket=ticket,
            macro=macro,
            expected_version=int(version) if version.isdigit() else None,
        )
    except PreconditionFailed:
        messages.error(
            request,
            _("Someone changed this ticket since you opened it. Check it, then apply the macro."),
        )
    except FieldErrors as error:
        messages.error(
            request,
            _("The macro could not be applied: %(reason)s")
            % {"reason": "; ".join(e.message for e in error.field_errors)},
        )
    except DomainError as error:
        if error.status == 404:
            raise Http404 from None
        messages.error(
            request, _("The macro could not be applied: %(reason)s") % {"reason": error.detail()}
        )
    else:
        messages.success(request, _("The macro %(name)s was applied.") % {"name": macro.name})
    return redirect(ticket_url(ticket))


def _macros_for(user: User, ticket: Ticket) -> QuerySet[Macro]:
    return selectors.macros_usable_by(user).filter(
        Q(business_line__isnull=True) | Q(business_line_id=ticket.business_line_id)
    )


# --- Files ----------------------------------------------------------------------------------


@require_GET
@signed_in
def attachment_download(request: HttpRequest, pk: int) -> HttpResponse:
    """A file of a ticket the person may see, always as a download and never sniffed, so an
    uploaded page or script cannot run under the site's origin."""
    attachment = get_object_or_404(selectors.attachments_visible_to(request.user), pk=pk)
    return file_download(
        attachment.file, filename=attachment.filename, content_type=attachment.content_type
    )
