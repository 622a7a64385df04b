"""Pages of SLA policies (with the condition builder), the at-risk list and the attainment
table. Thin: parse, fetch through selectors, call one service, render."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.conditions.catalog import ticket_catalog
from aftersales.conditions.compiler import ConditionInvalid
from aftersales.core.errors import DomainError, NotFound
from aftersales.sla import policies, policy_forms, reports, selectors, timers
from aftersales.sla.models import Policy, TicketSlaTarget
from aftersales.web.shortcuts import add_domain_error, require, signed_in

VIEW_TICKET = "tickets.view_ticket"


def _policy(request: HttpRequest, pk: int, codename: str | None = None) -> Policy:
    require(request, policies.VIEW_POLICY)
    return get_object_or_404(selectors.policies_visible_to(request.user, codename), pk=pk)


def _builder(request: HttpRequest, policy: Policy | None, tree: Any, error: Any) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    if isinstance(error, ConditionInvalid):
        errors = error.errors()
    elif error is not None and (error.field or "").startswith("condition"):
        errors = [{"field": error.field or "", "code": error.code, "detail": error.detail()}]
    if authz.scope_for(request.user, policies.VIEW_POLICY) == authz.Scope.ALL:
        catalog = ticket_catalog(business_line_ids=None)
    else:
        catalog = ticket_catalog(business_line_ids=authz.business_line_ids(request.user))
    return {
        "catalog": catalog.as_json(),
        "tree": tree if isinstance(tree, dict) else None,
        "errors": errors,
        "cel": policy.condition_cel if policy is not None else "",
        "check_url": "/api/v1/conditions/check"
        if authz.has_permission(request.user, "conditions.try_condition")
        else "",
    }


def _rows(targets: list[dict[str, Any]], error: DomainError | None) -> list[dict[str, Any]]:
    rows = [dict(item) for item in targets] + [{} for _ in range(policy_forms.EMPTY_ROWS)]
    for index, row in enumerate(rows):
        row["index"] = index
        row["priority"] = "" if row.get("priority") in (None, "") else str(row["priority"])
        row.setdefault("business_time", True)
        if error is not None and (error.field or "").startswith(f"targets[{index}]"):
            row["error"] = error.detail()
    return rows


def _form_page(request: HttpRequest, policy: Policy | None) -> HttpResponse:
    lines = [
        (line.pk, line.name)
        for line in accounts_selectors.business_lines_visible_to(request.user).filter(
            is_active=True
        )
    ]
    calendars = [
        (c.pk, c.name) for c in selectors.calendars_visible_to(request.user).filter(is_active=True)
    ]
    error: DomainError | None = None
    if request.method == "POST":
        form = policy_forms.PolicyForm(request.POST, lines=lines, calendars=calendars)
        tree = policy_forms.posted_condition(request.POST)
        targets = policy_forms.posted_targets(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            values: dict[str, Any] = {
                "name": data["name"],
                "description": data["description"],
                "business_lines": [int(pk) for pk in data["business_lines"]],
                "calendar": selectors.calendars_visible_to(request.user)
                .filter(pk=int(data["calendar"]))
                .first()
                if data["calendar"]
                else None,
                "pause_on_pending": data["pause_on_pending"],
                "is_active": data["is_active"],
                "condition": tree,
                "targets": targets,
            }
            if data["position"] is not None:
                values["position"] = data["position"]
            try:
                if policy is None:
                    saved = policies.create_policy(actor=request.user, values=values)
                else:
                    version = request.POST.get("version", "")
                    saved = policies.update_policy(
                        actor=request.user,
                        policy=policy,
                        values=values,
                        expected_version=int(version) if version.isdigit() else None,
                    )
                return redirect(
                    reverse("sla_policies:policy_edit", kwargs={"pk": saved.pk}) + "?saved=1"
                )
            except NotFound:
                raise
            except DomainError as refused:
                error = refused
                field = refused.field or ""
                if not field.startswith(("condition", "targets[")):
                    add_domain_error(form, refused, show_denied=True)
    else:
        initial: dict[str, Any] = {"is_active": True, "pause_on_pending": True}
        tree = None
        targets = []
        if policy is not None:
            initial = {
                "name": policy.name,
                "description": policy.description,
                "business_lines": [str(line.pk) for line in policy.business_lines.all()],
                "position": policy.position,
                "calendar": str(policy.calendar_id or ""),
                "pause_on_pending": policy.pause_on_pending,
                "is_active": policy.is_active,
            }
            tree = policy.condition
            targets = policies.targets_of(policy)
        form = policy_forms.PolicyForm(initial=initial, lines=lines, calendars=calendars)
    return render(
        request,
        "sla/policy_form.html",
        {
            "form": form,
            "policy": policy,
            "builder": _builder(request, policy, tree, error),
            "rows": _rows(targets, error),
            "priorities": policy_forms.PRIORITY_CHOICES,
            "metrics": policy_forms.METRIC_SUGGESTIONS,
            "saved": request.GET.get("saved") == "1",
            "may_delete": policy is not None
            and authz.has_permission(request.user, policies.DELETE_POLICY),
        },
    )


@signed_in
def policy_list(request: HttpRequest) -> HttpResponse:
    require(request, policies.VIEW_POLICY)
    return render(
        request,
        "sla/policy_list.html",
        {
            "policies": selectors.policies_visible_to(request.user),
            "may_add": authz.has_permission(request.user, policies.ADD_POLICY),
        },
    )


@signed_in
def policy_create(request: HttpRequest) -> HttpResponse:
    require(request, policies.ADD_POLICY)
    return _form_page(request, None)


@signed_in
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _policy(request, pk)
    if request.method == "POST":
        require(request, policies.CHANGE_POLICY)
    return _form_page(request, policy)


@signed_in
@require_POST
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = _policy(request, pk)
    policies.delete_policy(actor=request.user, policy=policy)
    return redirect("sla_policies:policy_list")


MAX_BADGE_TICKETS = 200


@signed_in
def badges(request: HttpRequest) -> HttpResponse:
    """The countdown badges of a page of tickets, as out-of-band swaps into the inbox rows;
    tickets the viewer may not see get none."""
    from aftersales.sla.templatetags.sla import badge_html
    from aftersales.tickets.selectors import tickets_visible_to

    require(request, VIEW_TICKET)
    raw = request.GET.get("tickets", "")
    wanted = [int(part) for part in raw.split(",") if part.strip().isdigit()][:MAX_BADGE_TICKETS]
    visible = tickets_visible_to(request.user).filter(pk__in=wanted).values("pk")
    now = timezone.now()
    found: dict[int, list[str]] = {pk: [] for pk in wanted}
    rows = (
        TicketSlaTarget.objects.filter(ticket_id__in=visible, state__in=["active", "paused"])
        .select_related("calendar")
        .order_by(F("due_at").asc(nulls_last=True), "pk")
    )
    for target in rows:
        found.setdefault(target.ticket_id, []).append(badge_html(target, now))
    return render(request, "sla/_badge_swaps.html", {"rows": sorted(found.items())})


@signed_in
def at_risk(request: HttpRequest) -> HttpResponse:
    """Running clocks of the tickets the person may see, the soonest due first."""
    require(request, VIEW_TICKET)
    now = timezone.now()
    rows = [
        {
            "target": target,
            "ticket": target.ticket,
            "condition": target.condition_at(now),
            "left": timers.minutes_left(target, now),
        }
        for target in selectors.at_risk_for(request.user, limit=200)
    ]
    return render(request, "sla/at_risk.html", {"rows": rows, "now": now})


@signed_in
def attainment(request: HttpRequest) -> HttpResponse:
    """Targets that ended (met, or breached) per team, policy, priority and month."""
    require(request, policies.VIEW_POLICY)
    return render(request, "sla/attainment.html", {"rows": reports.attainment_for(request.user)})


@signed_in
def attainment_export(request: HttpRequest) -> HttpResponse:
    """The attainment table as CSV (``?format=csv``) or Excel (``?format=xlsx``)."""
    require(request, policies.VIEW_POLICY)
    file_format = request.GET.get("format", "csv")
    if file_format not in ("csv", "xlsx"):
        file_format = "csv"
    exported = reports.export_attainment(actor=request.user, format=file_format)
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response
