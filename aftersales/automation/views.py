"""Settings pages of rules and time-based automations, the "test on a ticket" panel, and the
automation log shown on a ticket."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aftersales.accounts import authz
from aftersales.accounts import selectors as accounts_selectors
from aftersales.accounts.models import User
from aftersales.automation import actions as action_kinds
from aftersales.automation import forms, selectors, services
from aftersales.automation.models import Automation, Rule, Trigger
from aftersales.conditions.catalog import ticket_catalog
from aftersales.conditions.compiler import ConditionInvalid
from aftersales.core.errors import DomainError, NotFound
from aftersales.web.shortcuts import add_domain_error, require, signed_in

Item = Rule | Automation


# --- What the action rows offer ---


def _choices(request: HttpRequest) -> dict[str, Any]:
    from aftersales.notifications.models import NotificationTemplate
    from aftersales.notifications.services import AUDIENCES
    from aftersales.routing.models import Skill
    from aftersales.tickets.models import TicketStatus, TicketType
    from aftersales.tickets.services.tickets import PRIORITY_KEYS

    lines = accounts_selectors.business_lines_visible_to(request.user).filter(is_active=True)
    types = TicketType.objects.filter(business_line__in=lines, is_active=True).order_by("pk")
    audience_labels = {
        "assignee": _("The assignee"),
        "team": _("The ticket's team"),
        "team_lead": _("The team lead"),
        "requester": _("The customer"),
        "followers": _("The followers"),
    }
    return {
        "kinds": [(kind.key, kind.label) for kind in action_kinds.KINDS.values()],
        "priorities": [(key, key) for key in PRIORITY_KEYS.values()],
        "types": [(t.pk, t.name) for t in types],
        "statuses": [
            (s.pk, f"{s.ticket_type.name} · {s.name}")
            for s in TicketStatus.objects.filter(ticket_type__in=types, is_active=True)
            .select_related("ticket_type")
            .order_by("ticket_type_id", "position")
        ],
        "teams": [
            (t.pk, t.name)
            for t in accounts_selectors.teams_visible_to(request.user).filter(is_active=True)
        ],
        "users": [
            (u.pk, str(u))
            for u in accounts_selectors.users_visible_to(request.user).filter(
                is_active=True, kind=User.Kind.STAFF
            )
        ],
        "templates": [
            (t.pk, t.name)
            for t in NotificationTemplate.objects.filter(is_active=True).order_by("name")
        ],
        "audiences": [(key, audience_labels.get(key, key)) for key in AUDIENCES],
        "skills": [(s.pk, str(s)) for s in Skill.objects.filter(is_active=True).order_by("key")],
        "fields": _custom_fields(types),
    }


def _custom_fields(types: Any) -> list[tuple[str, str]]:
    """Custom fields of these ticket types (and those of every type), by key."""
    from aftersales.customfields.models import FieldDefinition
    from aftersales.tickets.models import form_key_of
    from aftersales.tickets.services.tickets import TARGET

    forms = ["", *(form_key_of(t.pk) for t in types)]
    definitions = FieldDefinition.objects.filter(
        target=TARGET, subtarget__in=forms, is_active=True
    ).order_by("key")
    language = translation.get_language() or "en"
    seen: dict[str, str] = {}
    for definition in definitions:
        seen.setdefault(definition.key, f"{definition.label(language)} ({definition.key})")
    return list(seen.items())


def _rows(actions: list[dict[str, Any]], error: DomainError | None) -> list[dict[str, Any]]:
    """The action rows to show, each with the error that names it (``actions.2.team``)."""
    rows = []
    for index, action in enumerate(actions):
        row_errors: dict[str, str] = {}
        if error is not None and (error.field or "").startswith(f"actions.{index}."):
            row_errors[error.field.split(".", 2)[2]] = error.detail()  # type: ignore[union-attr]
        rows.append({"index": index, "action": action, "errors": row_errors})
    return rows


@signed_in
def action_row(request: HttpRequest) -> HttpResponse:
    """One action row (added, or re-drawn when its kind changes)."""
    if not (
        authz.has_permission(request.user, services.ADD_RULE)
        or authz.has_permission(request.user, services.CHANGE_RULE)
        or authz.has_permission(request.user, services.ADD_AUTOMATION)
        or authz.has_permission(request.user, services.CHANGE_AUTOMATION)
    ):
        require(request, services.CHANGE_RULE)
    index = request.GET.get("index", "0")
    index = index if index.isdigit() and len(index) < 4 else "0"
    kind = request.GET.get(f"action-{index}-type") or request.GET.get("type") or "add_tags"
    if kind not in action_kinds.KINDS:
        kind = "add_tags"
    context = {
        "row": {"index": int(index), "action": {"type": kind}, "errors": {}},
        "choices": _choices(request),
    }
    response = render(request, "automation/_action_row.html", context)
    if request.GET.get("add") == "1":
        # The "Add action" button comes back (out of band) numbering the next row.
        button = render(
            request, "automation/_add_action.html", {"next_index": int(index) + 1, "oob": True}
        )
        response.content += button.content
    return response


@signed_in
def action_row_removed(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")


# --- Rules ---


def _lines(request: HttpRequest) -> list[tuple[int, str]]:
    lines = accounts_selectors.business_lines_visible_to(request.user).filter(is_active=True)
    return [(line.pk, line.name) for line in lines]


def _catalog(request: HttpRequest) -> Any:
    """Fields of the lines whose rules the person may write (every line: all of them)."""
    codename = (
        services.VIEW_RULE
        if authz.has_permission(request.user, services.VIEW_RULE)
        else (services.VIEW_AUTOMATION)
    )
    if authz.scope_for(request.user, codename) == authz.Scope.ALL:
        return ticket_catalog(business_line_ids=None)
    return ticket_catalog(business_line_ids=authz.business_line_ids(request.user))


def _builder(
    request: HttpRequest, item: Item | None, tree: Any, error: DomainError | None
) -> dict[str, Any]:
    errors = []
    if isinstance(error, ConditionInvalid):
        errors = error.errors()
    elif error is not None and (error.field or "").startswith("condition"):
        errors = [{"field": error.field or "", "code": error.code, "detail": error.detail()}]
    return {
        "catalog": _catalog(request).as_json(),
        "tree": tree if isinstance(tree, dict) else None,
        "errors": errors,
        "cel": item.condition_cel if item is not None and item.pk else "",
        "check_url": "/api/v1/conditions/check"
        if authz.has_permission(request.user, "conditions.try_condition")
        else "",
    }


def _save(
    request: HttpRequest,
    form: forms.RuleForm | forms.AutomationForm,
    save: Any,
) -> tuple[Any, DomainError | None]:
    """Run the save use case; a refusal is shown next to its field (or in the builder/rows)."""
    values = {
        **form.values(),
        "condition": forms.posted_condition(request.POST),
        "actions": forms.posted_actions(request.POST),
    }
    try:
        return save(values), None
    except NotFound:
        raise
    except DomainError as error:
        field = error.field or ""
        if not field.startswith(("condition", "actions.")):
            if field == "actions":
                form.add_error(None, error.detail())
            else:
                add_domain_error(form, error, show_denied=True)
        return None, error


def _item_form_page(
    request: HttpRequest, *, item: Item | None, model: type[Item], save: Any
) -> HttpResponse:
    is_rule = model is Rule
    form_class = forms.RuleForm if is_rule else forms.AutomationForm
    extra: dict[str, Any] = {"lines": _lines(request)}
    if not is_rule:
        from aftersales.sla.models import Calendar

        extra["calendars"] = [(c.pk, c.name) for c in Calendar.objects.filter(is_active=True)]
    error: DomainError | None = None
    if request.method == "POST":
        form = form_class(request.POST, **extra)
        tree = forms.posted_condition(request.POST)
        actions = forms.posted_actions(request.POST)
        if form.is_valid():
            saved, error = _save(request, form, save)
            if saved is not None:
                name = "automation:rule_edit" if is_rule else "automation:automation_edit"
                return redirect(reverse(name, kwargs={"pk": saved.pk}) + "?saved=1")
    else:
        initial = _initial(item, is_rule)
        form = form_class(initial=initial, **extra)
        tree = item.condition if item is not None else None
        actions = list(item.actions) if item is not None else [{"type": "add_tags"}]
    return render(
        request,
        "automation/item_form.html",
        {
            "form": form,
            "item": item,
            "is_rule": is_rule,
            "builder": _builder(request, item, tree, error),
            "rows": _rows(actions, error),
            "next_index": len(actions),
            "choices": _choices(request),
            "actions_error": error.detail()
            if error is not None and error.field == "actions"
            else "",
            "saved": request.GET.get("saved") == "1",
            "versions": list(item.versions.select_related("changed_by")[:20])
            if item is not None
            else [],
            "triggers": dict(Trigger.choices),
        },
    )


def _initial(item: Item | None, is_rule: bool) -> dict[str, Any]:
    if item is None:
        return {"is_active": True, "triggers": ["created"]} if is_rule else {
            "is_active": True, "status_categories": ["new"], "clock": "created_at", "hours": "2"
        }  # fmt: skip
    initial: dict[str, Any] = {
        "name": item.name,
        "description": item.description,
        "business_lines": [str(line.pk) for line in item.business_lines.all()],
        "is_active": item.is_active,
    }
    if isinstance(item, Rule):
        initial.update(triggers=item.triggers, stop_processing=item.stop_processing)
    else:
        initial.update(
            status_categories=item.status_categories,
            clock=item.clock,
            hours=item.hours,
            business_hours=item.business_hours,
            calendar=str(item.calendar_id or ""),
        )
    return initial


@signed_in
def rule_list(request: HttpRequest) -> HttpResponse:
    require(request, services.VIEW_RULE)
    rules = services.visible(request.user, Rule).prefetch_related("business_lines")
    return render(
        request,
        "automation/rule_list.html",
        {
            "rules": rules,
            "triggers": dict(Trigger.choices),
            "may_add": authz.has_permission(request.user, services.ADD_RULE),
            "may_change": authz.has_permission(request.user, services.CHANGE_RULE),
        },
    )


@signed_in
def rule_create(request: HttpRequest) -> HttpResponse:
    require(request, services.ADD_RULE)
    return _item_form_page(
        request,
        item=None,
        model=Rule,
        save=lambda values: services.create_rule(actor=request.user, values=values),
    )


@signed_in
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, services.VIEW_RULE)
    rule = services.get_visible(request.user, Rule, pk)
    if request.method == "POST":
        require(request, services.CHANGE_RULE)
    version = _posted_version(request.POST)
    return _item_form_page(
        request,
        item=rule,
        model=Rule,
        save=lambda values: services.update_rule(
            actor=request.user, rule=rule, values=values, expected_version=version
        ),
    )


def _posted_version(post: QueryDict) -> int | None:
    value = post.get("version", "")
    return int(value) if value.isdigit() else None


@signed_in
@require_POST
def rule_move(request: HttpRequest, pk: int, direction: str) -> HttpResponse:
    require(request, services.CHANGE_RULE)
    order = list(services.visible(request.user, Rule).values_list("pk", flat=True))
    if pk not in order:
        raise NotFound("not_found")
    at = order.index(pk)
    other = at - 1 if direction == "up" else at + 1
    if 0 <= other < len(order):
        order[at], order[other] = order[other], order[at]
        services.reorder_rules(actor=request.user, ordered_ids=order)
    return redirect("automation:rule_list")


def _model(kind: str) -> type[Item]:
    if kind not in {"rule", "automation"}:
        raise NotFound("not_found")
    return Rule if kind == "rule" else Automation


@signed_in
@require_POST
def item_delete(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    model = _model(kind)
    item = services.get_visible(request.user, model, pk)
    services.delete(actor=request.user, item=item)
    return redirect("automation:rule_list" if model is Rule else "automation:automation_list")


@signed_in
@require_POST
def item_test(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """The "test on a ticket" panel: what matches, what would happen; nothing is changed."""
    from aftersales.tickets.selectors import tickets_visible_to

    model = _model(kind)
    item = services.get_visible(request.user, model, pk)
    number = request.POST.get("ticket", "").strip()[:40]
    ticket = tickets_visible_to(request.user).filter(number=number).first() if number else None
    context: dict[str, Any] = {"number": number, "item": item, "kind": kind}
    if ticket is None:
        context["error"] = _("No ticket with this number that you can see.")
    else:
        trigger = request.POST.get("trigger", "")
        result = services.dry_run(
            actor=request.user,
            item=item,
            ticket=ticket,
            trigger=trigger if trigger in Trigger.values else "",
        )
        context.update(
            ticket=ticket,
            result=result,
            leaves=[selectors.describe_leaf(leaf) for leaf in result.leaves],
            steps=[selectors.describe_step(step) for step in result.steps],
        )
    return render(request, "automation/_test_result.html", context)


# --- Automations ---


@signed_in
def automation_list(request: HttpRequest) -> HttpResponse:
    require(request, services.VIEW_AUTOMATION)
    items = services.visible(request.user, Automation).prefetch_related("business_lines")
    return render(
        request,
        "automation/automation_list.html",
        {
            "automations": items,
            "clocks": dict(Automation.Clock.choices),
            "may_add": authz.has_permission(request.user, services.ADD_AUTOMATION),
        },
    )


@signed_in
def automation_create(request: HttpRequest) -> HttpResponse:
    require(request, services.ADD_AUTOMATION)
    return _item_form_page(
        request,
        item=None,
        model=Automation,
        save=lambda values: services.create_automation(actor=request.user, values=values),
    )


@signed_in
def automation_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, services.VIEW_AUTOMATION)
    item = services.get_visible(request.user, Automation, pk)
    if request.method == "POST":
        require(request, services.CHANGE_AUTOMATION)
    version = _posted_version(request.POST)
    return _item_form_page(
        request,
        item=item,
        model=Automation,
        save=lambda values: services.update_automation(
            actor=request.user, automation=item, values=values, expected_version=version
        ),
    )


# --- A ticket's automation log ---


@signed_in
def ticket_log(request: HttpRequest, ticket_id: int) -> HttpResponse:
    from aftersales.tickets.selectors import tickets_visible_to

    ticket = get_object_or_404(tickets_visible_to(request.user), pk=ticket_id)
    rows = [
        {"entry": entry, "steps": [selectors.describe_step(step) for step in entry.steps]}
        for entry in selectors.log_of(request.user, ticket)
    ]
    return render(request, "automation/_ticket_log.html", {"ticket": ticket, "rows": rows})
