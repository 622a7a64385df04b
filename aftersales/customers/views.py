"""Pages of customers and organisations: list, 360 view, edit, identities, notes, merge,
import and export. Each view parses, fetches through a selector, calls one service, renders."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as HttpPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.accounts.models import User
from aftersales.core.errors import Conflict, DomainError
from aftersales.customers import exporting, forms, importing, selectors, services
from aftersales.customers.models import Customer, CustomerIdentity, Organisation
from aftersales.customfields import services as customfields
from aftersales.tickets import selectors as ticket_selectors
from aftersales.web.shortcuts import add_domain_error, require, signed_in

PAGE_SIZE = 50
TICKETS_SHOWN = 20


def _visible_customer(request: HttpRequest, pk: int) -> Customer:
    return get_object_or_404(selectors.customers_visible_to(request.user), pk=pk)


def _visible_organisation(request: HttpRequest, pk: int) -> Organisation:
    return get_object_or_404(selectors.organisations_visible_to(request.user), pk=pk)


def _owners(request: HttpRequest) -> QuerySet[User]:
    return accounts_selectors.users_visible_to(request.user).filter(
        kind=User.Kind.STAFF, is_active=True
    )


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _active_filter(value: str) -> bool | None:
    return {"1": True, "0": False}.get(value)


# --- Customers -------------------------------------------------------------------------------


@signed_in
def customer_list(request: HttpRequest) -> HttpResponse:
    require(request, "customers.view_customer")
    customers = selectors.customers_visible_to(request.user)
    filters = forms.CustomerFilterForm(
        request.GET or None,
        organisations=selectors.organisations_visible_to(request.user),
        tiers=selectors.tiers_visible_to(request.user),
        lines=accounts_selectors.business_lines_visible_to(request.user),
    )
    if filters.is_valid():
        data = filters.cleaned_data
        if data["q"]:
            customers = customers.filter(
                Q(name__icontains=data["q"])
                | Q(
                    pk__in=CustomerIdentity.objects.filter(value__icontains=data["q"]).values(
                        "customer_id"
                    )
                )
            )
        if data["organisation"] is not None:
            customers = customers.filter(organisation=data["organisation"])
        if data["tier"] is not None:
            customers = customers.filter(tier=data["tier"])
        if data["tag"]:
            customers = customers.filter(selectors.tag_filter(data["tag"]))
        if data["business_line"] is not None:
            customers = customers.filter(business_line=data["business_line"])
        active = _active_filter(data["active"])
        if active is not None:
            customers = customers.filter(is_active=active)
    page = Paginator(customers.order_by("name", "pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    user = request.user
    return render(
        request,
        "customers/customer_list.html",
        {
            "filters": filters,
            "page": page,
            "query": _query_without_page(request),
            "may_add": authz.has_permission(user, "customers.add_customer"),
            "may_export": authz.has_permission(user, "customers.export_customer"),
        },
    )


def _customer_form(request: HttpRequest, **kwargs: Any) -> forms.CustomerForm:
    viewer = request.user
    return forms.CustomerForm(
        request.POST if request.method == "POST" else None,
        lines=accounts_selectors.business_lines_visible_to(viewer).filter(is_active=True),
        organisations=selectors.organisations_visible_to(viewer).filter(is_active=True),
        tiers=selectors.tiers_visible_to(viewer),
        owners=_owners(request),
        teams=accounts_selectors.teams_visible_to(viewer).filter(is_active=True),
        **kwargs,
    )


@signed_in
def customer_create(request: HttpRequest) -> HttpResponse:
    require(request, "customers.add_customer")
    form = _customer_form(request, initial={"owner": request.user})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            customer = services.create_customer(actor=request.user, **data)
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("Customer %(name)s has been created.") % {"name": customer})
            return redirect("customers:customer_detail", pk=customer.pk)
    return render(request, "customers/customer_form.html", {"form": form, "customer": None})


@signed_in
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    if not authz.has_permission(request.user, "customers.change_customer", customer):
        raise HttpPermissionDenied("customers.change_customer")
    form = _customer_form(
        request,
        editing=True,
        initial={
            "name": customer.name,
            "business_line": customer.business_line,
            "organisation": customer.organisation,
            "tier": customer.tier,
            "owner": customer.owner,
            "team": customer.team,
            "tags": customer.tags,
            "notes": customer.notes,
            "is_active": customer.is_active,
            "version": customer.version,
        },
    )
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        version = changes.pop("version")
        try:
            services.update_customer(
                actor=request.user, customer=customer, changes=changes, expected_version=version
            )
        except Conflict:
            form.add_error(
                None,
                _("Someone else changed this customer meanwhile. Reload the page and try again."),
            )
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("The customer has been saved."))
            return redirect("customers:customer_detail", pk=customer.pk)
    return render(request, "customers/customer_form.html", {"form": form, "customer": customer})


def _detail_context(request: HttpRequest, customer: Customer, **forms_: Any) -> dict[str, Any]:
    viewer = request.user
    may_change = authz.has_permission(viewer, "customers.change_customer", customer)
    visible = selectors.customers_visible_to(viewer)
    identities = list(customer.identities.order_by("kind", "value"))
    return {
        "customer": customer,
        "identities": identities,
        "notes": list(selectors.notes_of(customer)[:100]),
        "history": selectors.history_of(customer),
        "custom_field_rows": customfields.render_values(
            services.CUSTOMER_TARGET, None, customer.custom_fields, translation.get_language()
        ),
        "merged_from": list(visible.filter(merged_into=customer)),
        "merged_into": (
            visible.filter(pk=customer.merged_into_id).first() if customer.merged_into_id else None
        ),
        "may_change": may_change,
        "may_merge": customer.merged_into_id is None
        and authz.has_permission(viewer, "customers.merge_customer", customer),
        "identity_form": forms_.get("identity_form") or forms.IdentityForm(),
        "link_form": forms_.get("link_form") or forms.LinkIdentityForm(identities=identities),
        "timeline": selectors.timeline_of(viewer, customer),
        "note_form": forms_.get("note_form") or forms.NoteForm(),
        # The customer's tickets the viewer may see (none outside their scope).
        "tickets": list(ticket_selectors.tickets_of_customer(viewer, customer)[:TICKETS_SHOWN]),
        "may_add_ticket": getattr(viewer, "kind", None) == User.Kind.STAFF
        and authz.has_permission(viewer, "tickets.add_ticket"),
    }


@signed_in
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "customers.view_customer")
    customer = _visible_customer(request, pk)
    return render(request, "customers/customer_detail.html", _detail_context(request, customer))


@require_POST
@signed_in
def identity_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    form = forms.IdentityForm(request.POST)
    if form.is_valid():
        try:
            services.add_identity(actor=request.user, customer=customer, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The identity has been added."))
            return redirect("customers:customer_detail", pk=customer.pk)
    context = _detail_context(request, customer, identity_form=form)
    return render(request, "customers/customer_detail.html", context, status=422)


@require_POST
@signed_in
def identity_remove(request: HttpRequest, pk: int, identity_pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    identity = get_object_or_404(customer.identities.all(), pk=identity_pk)
    services.remove_identity(actor=request.user, identity=identity)
    messages.success(request, _("The identity has been removed."))
    return redirect("customers:customer_detail", pk=customer.pk)


@require_POST
@signed_in
def identity_link(request: HttpRequest, pk: int) -> HttpResponse:
    """Link one of this customer's identities to the existing customer it belongs to."""
    customer = _visible_customer(request, pk)
    identities = list(customer.identities.filter(is_active=True))
    form = forms.LinkIdentityForm(request.POST, identities=identities)
    if form.is_valid():
        identity = next(i for i in identities if i.pk == form.cleaned_data["identity"])
        target = (
            selectors.customers_visible_to(request.user)
            .filter(pk=form.cleaned_data["customer_id"])
            .first()
        )
        if target is None:
            form.add_error("customer_id", _("Choose a customer you can see."))
        else:
            try:
                result = services.link_identity(
                    actor=request.user, identity=identity, customer=target
                )
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(
                    request,
                    _("%(identity)s now belongs to %(name)s.")
                    % {"identity": str(identity), "name": result.customer.name},
                )
                return redirect("customers:customer_detail", pk=result.customer.pk)
    context = _detail_context(request, customer, link_form=form)
    return render(request, "customers/customer_detail.html", context, status=422)


@require_POST
@signed_in
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    form = forms.NoteForm(request.POST)
    if form.is_valid():
        try:
            services.add_note(actor=request.user, customer=customer, body=form.cleaned_data["body"])
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, _("The note has been added."))
            return redirect("customers:customer_detail", pk=customer.pk)
    context = _detail_context(request, customer, note_form=form)
    return render(request, "customers/customer_detail.html", context, status=422)


@signed_in
def customer_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 1 (GET with ``other``): show what would move. Step 2 (POST ``confirm``): merge."""
    require(request, "customers.merge_customer")
    customer = _visible_customer(request, pk)
    data = (
        request.POST
        if request.method == "POST"
        else (request.GET if "other" in request.GET else None)
    )
    form = forms.MergeForm(data, initial={"survivor": forms.MergeForm.THIS})
    context: dict[str, Any] = {"customer": customer, "form": form}
    if data is not None and form.is_valid():
        other = (
            selectors.customers_visible_to(request.user)
            .filter(pk=form.cleaned_data["other"])
            .first()
        )
        if other is None:
            form.add_error("other", _("No customer you can see has this number."))
        else:
            keep_this = form.cleaned_data["survivor"] == forms.MergeForm.THIS
            survivor, merged = (customer, other) if keep_this else (other, customer)
            if request.method == "POST" and request.POST.get("confirm") == "1":
                try:
                    result = services.merge_customers(
                        actor=request.user, survivor=survivor, merged=merged
                    )
                except DomainError as error:
                    add_domain_error(form, error, show_denied=True)
                else:
                    messages.success(
                        request,
                        _("%(merged)s has been merged into %(survivor)s.")
                        % {"merged": result.merged, "survivor": result.survivor},
                    )
                    return redirect("customers:customer_detail", pk=result.survivor.pk)
            context.update(
                survivor=survivor,
                merged=merged,
                preview=selectors.merge_preview(survivor, merged),
            )
    return render(request, "customers/customer_merge.html", context)


@signed_in
def customer_import(request: HttpRequest) -> HttpResponse:
    require(request, "customers.add_customer")
    form = forms.ImportForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
    )
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        file_format = "xlsx" if (upload.name or "").lower().endswith(".xlsx") else "csv"
        try:
            report = importing.import_customers(
                actor=request.user, file=upload.file, format=file_format
            )
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            if report.is_success:
                messages.success(
                    request,
                    _("%(count)s customers have been imported.") % {"count": report.created},
                )
                return redirect("customers:customer_list")
    status = 422 if report is not None and not report.is_success else 200
    return render(
        request,
        "customers/customer_import.html",
        {
            "form": form,
            "report": report,
            "columns": importing.COLUMNS,
            "custom_columns": importing.custom_columns(),
        },
        status=status,
    )


@signed_in
def customer_export(request: HttpRequest) -> HttpResponse:
    require(request, "customers.export_customer")
    file_format = request.GET.get("format", "csv")
    if file_format not in importing.Format.ALL:
        file_format = "csv"
    exported = exporting.export_customers(actor=request.user, format=file_format)
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response


# --- Organisations -------------------------------------------------------------------------


@signed_in
def organisation_list(request: HttpRequest) -> HttpResponse:
    require(request, "customers.view_organisation")
    organisations = selectors.organisations_visible_to(request.user)
    filters = forms.OrganisationFilterForm(
        request.GET or None, lines=accounts_selectors.business_lines_visible_to(request.user)
    )
    if filters.is_valid():
        data = filters.cleaned_data
        if data["q"]:
            organisations = organisations.filter(
                Q(name__icontains=data["q"]) | Q(code__icontains=data["q"])
            )
        if data["business_line"] is not None:
            organisations = organisations.filter(business_line=data["business_line"])
        active = _active_filter(data["active"])
        if active is not None:
            organisations = organisations.filter(is_active=active)
    page = Paginator(organisations.order_by("name", "pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "customers/organisation_list.html",
        {
            "filters": filters,
            "page": page,
            "query": _query_without_page(request),
            "may_add": authz.has_permission(request.user, "customers.add_organisation"),
        },
    )


def _organisation_form(request: HttpRequest, **kwargs: Any) -> forms.OrganisationForm:
    viewer = request.user
    return forms.OrganisationForm(
        request.POST if request.method == "POST" else None,
        lines=accounts_selectors.business_lines_visible_to(viewer).filter(is_active=True),
        tiers=selectors.tiers_visible_to(viewer),
        owners=_owners(request),
        **kwargs,
    )


@signed_in
def organisation_create(request: HttpRequest) -> HttpResponse:
    require(request, "customers.add_organisation")
    form = _organisation_form(request, initial={"owner": request.user})
    if request.method == "POST" and form.is_valid():
        try:
            organisation = services.create_organisation(actor=request.user, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(
                request, _("Organisation %(name)s has been created.") % {"name": organisation}
            )
            return redirect("customers:organisation_detail", pk=organisation.pk)
    return render(request, "customers/organisation_form.html", {"form": form, "organisation": None})


@signed_in
def organisation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = _visible_organisation(request, pk)
    if not authz.has_permission(request.user, "customers.change_organisation", organisation):
        raise HttpPermissionDenied("customers.change_organisation")
    form = _organisation_form(
        request,
        editing=True,
        initial={
            "name": organisation.name,
            "code": organisation.code,
            "business_line": organisation.business_line,
            "tier": organisation.tier,
            "owner": organisation.owner,
            "tags": organisation.tags,
            "notes": organisation.notes,
            "is_active": organisation.is_active,
            "version": organisation.version,
        },
    )
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        version = changes.pop("version")
        try:
            services.update_organisation(
                actor=request.user,
                organisation=organisation,
                changes=changes,
                expected_version=version,
            )
        except Conflict:
            form.add_error(
                None,
                _("Someone else changed this organisation meanwhile. Reload and try again."),
            )
        except DomainError as error:
            add_domain_error(form, error, show_denied=True)
        else:
            messages.success(request, _("The organisation has been saved."))
            return redirect("customers:organisation_detail", pk=organisation.pk)
    return render(
        request, "customers/organisation_form.html", {"form": form, "organisation": organisation}
    )


@signed_in
def organisation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, "customers.view_organisation")
    organisation = _visible_organisation(request, pk)
    people = selectors.customers_visible_to(request.user).filter(organisation=organisation)
    return render(
        request,
        "customers/organisation_detail.html",
        {
            "organisation": organisation,
            "people": list(people.order_by("name", "pk")[:200]),
            "may_change": authz.has_permission(
                request.user, "customers.change_organisation", organisation
            ),
        },
    )
