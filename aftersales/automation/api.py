"""API of rules and time-based automations: CRUD, order, versions, dry run, a ticket's log.

Everything is read through :func:`services.visible`: a rule covering a line outside the
caller's reach is a 404. Changes take ``If-Match`` (the ETag of the read) and answer 412 when
someone changed the rule since.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from aftersales.api.common import etag_of, expected_version
from aftersales.automation import selectors, services
from aftersales.automation.models import Automation, Rule
from aftersales.core.errors import DomainError, NotFound

router = Router(tags=["automation"])


class RuleOut(Schema):
    id: int
    name: str
    description: str
    business_line_ids: list[int]
    triggers: list[str]
    condition: dict[str, Any]
    condition_cel: str
    actions: list[dict[str, Any]]
    stop_processing: bool
    position: int
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class RuleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=200)
    description: str = Field("", max_length=2000)
    business_line_ids: list[int] = Field([], max_length=100)
    triggers: list[str] = Field(..., max_length=20)
    condition: dict[str, Any] | None = None
    actions: list[dict[str, Any]] = Field(..., max_length=50)
    stop_processing: bool = False
    position: int = Field(0, ge=0, le=1_000_000)
    is_active: bool = True


class RulePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)
    business_line_ids: list[int] | None = Field(None, max_length=100)
    triggers: list[str] | None = Field(None, max_length=20)
    condition: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = Field(None, max_length=50)
    stop_processing: bool | None = None
    position: int | None = Field(None, ge=0, le=1_000_000)
    is_active: bool | None = None


class AutomationOut(Schema):
    id: int
    name: str
    description: str
    business_line_ids: list[int]
    clock: str
    hours: Decimal
    business_hours: bool
    calendar_id: int | None
    status_categories: list[str]
    condition: dict[str, Any]
    condition_cel: str
    actions: list[dict[str, Any]]
    position: int
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class AutomationIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=200)
    description: str = Field("", max_length=2000)
    business_line_ids: list[int] = Field([], max_length=100)
    clock: str
    hours: Decimal
    business_hours: bool = False
    calendar_id: int | None = None
    status_categories: list[str] = Field(..., max_length=5)
    condition: dict[str, Any] | None = None
    actions: list[dict[str, Any]] = Field(..., max_length=50)
    position: int = Field(0, ge=0, le=1_000_000)
    is_active: bool = True


class AutomationPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)
    business_line_ids: list[int] | None = Field(None, max_length=100)
    clock: str | None = None
    hours: Decimal | None = None
    business_hours: bool | None = None
    calendar_id: int | None = None
    status_categories: list[str] | None = Field(None, max_length=5)
    condition: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = Field(None, max_length=50)
    position: int | None = Field(None, ge=0, le=1_000_000)
    is_active: bool | None = None


class OrderIn(Schema):
    model_config = ConfigDict(extra="forbid")

    order: list[int] = Field(..., max_length=10_000)


class DryRunIn(Schema):
    model_config = ConfigDict(extra="forbid")

    ticket_id: int
    trigger: str = ""


class LeafOut(Schema):
    path: str
    field: str
    operator: str
    expected: str
    actual: str
    matched: bool


class StepOut(Schema):
    action: str
    label: str
    ok: bool
    detail: str


class DryRunOut(Schema):
    matched: bool
    applies_to_line: bool
    cel: str
    leaves: list[LeafOut]
    steps: list[StepOut]


class VersionOut(Schema):
    version: int
    snapshot: dict[str, Any]
    changed_by_id: int | None
    created_at: datetime


class ExecutionOut(Schema):
    id: int
    rule_id: int | None
    automation_id: int | None
    name: str
    version: int
    trigger: str
    chain: str
    depth: int
    outcome: str
    steps: list[StepOut]
    created_at: datetime


# --- Helpers ---

RENAMES = {"business_line_ids": "business_lines", "calendar_id": "calendar"}


def _values(data: Schema, *, partial: bool) -> dict[str, Any]:
    raw = data.model_dump(exclude_unset=partial)
    return {RENAMES.get(key, key): value for key, value in raw.items()}


def _api_error(error: DomainError) -> DomainError:
    back = {value: key for key, value in RENAMES.items()}
    if error.field in back:
        error.field = back[error.field]
    return error


def _rule_out(rule: Rule) -> dict[str, Any]:
    return {
        **{
            f: getattr(rule, f)
            for f in (
                "id",
                "name",
                "description",
                "triggers",
                "condition",
                "condition_cel",
                "actions",
                "stop_processing",
                "position",
                "is_active",
                "version",
                "created_at",
                "updated_at",
            )
        },
        "business_line_ids": sorted(line.pk for line in rule.business_lines.all()),
    }


def _automation_out(item: Automation) -> dict[str, Any]:
    return {
        **{
            f: getattr(item, f)
            for f in (
                "id",
                "name",
                "description",
                "clock",
                "hours",
                "business_hours",
                "calendar_id",
                "status_categories",
                "condition",
                "condition_cel",
                "actions",
                "position",
                "is_active",
                "version",
                "created_at",
                "updated_at",
            )
        },
        "business_line_ids": sorted(line.pk for line in item.business_lines.all()),
    }


def _steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [selectors.describe_step(step) for step in steps]


def _dry_run_out(result: services.DryRun) -> dict[str, Any]:
    return {
        "matched": result.matched,
        "applies_to_line": result.applies_to_line,
        "cel": result.cel,
        "leaves": [selectors.describe_leaf(leaf) for leaf in result.leaves],
        "steps": _steps(result.steps),
    }


def _with_etag(response: HttpResponse, version: int) -> None:
    response["ETag"] = etag_of(version)


def _ticket(request: HttpRequest, ticket_id: int) -> Any:
    from aftersales.tickets import selectors as ticket_selectors

    found = ticket_selectors.tickets_visible_to(request.user).filter(pk=ticket_id).first()
    if found is None:
        raise NotFound("not_found", field="ticket_id", message=_("No such ticket."))
    return found


# --- Rules ---


@router.get("/automation/rules", response=list[RuleOut], summary="Rules in the order they run")
def list_rules(request: HttpRequest) -> list[dict[str, Any]]:
    rules = services.visible(request.user, Rule).prefetch_related("business_lines")
    return [_rule_out(rule) for rule in rules]


@router.post("/automation/rules", response={201: RuleOut}, summary="Create a rule")
def create_rule(
    request: HttpRequest, data: RuleIn, response: HttpResponse
) -> Status[dict[str, Any]]:
    try:
        rule = services.create_rule(actor=request.user, values=_values(data, partial=False))
    except DomainError as error:
        raise _api_error(error) from None
    _with_etag(response, rule.version)
    return Status(201, _rule_out(rule))


@router.put("/automation/rules/order", response=list[RuleOut], summary="Reorder the rules")
def reorder_rules(request: HttpRequest, data: OrderIn) -> list[dict[str, Any]]:
    services.reorder_rules(actor=request.user, ordered_ids=data.order)
    rules = services.visible(request.user, Rule).prefetch_related("business_lines")
    return [_rule_out(rule) for rule in rules]


@router.get("/automation/rules/{rule_id}", response=RuleOut, summary="One rule")
def get_rule(request: HttpRequest, rule_id: int, response: HttpResponse) -> dict[str, Any]:
    rule = services.get_visible(request.user, Rule, rule_id)
    _with_etag(response, rule.version)
    return _rule_out(rule)


@router.patch("/automation/rules/{rule_id}", response=RuleOut, summary="Change a rule (If-Match)")
def update_rule(
    request: HttpRequest, rule_id: int, data: RulePatch, response: HttpResponse
) -> dict[str, Any]:
    rule = services.get_visible(request.user, Rule, rule_id)
    try:
        rule = services.update_rule(
            actor=request.user,
            rule=rule,
            values=_values(data, partial=True),
            expected_version=expected_version(request),
        )
    except DomainError as error:
        raise _api_error(error) from None
    _with_etag(response, rule.version)
    return _rule_out(rule)


@router.delete("/automation/rules/{rule_id}", response={204: None}, summary="Delete a rule")
def delete_rule(request: HttpRequest, rule_id: int) -> Status[None]:
    rule = services.get_visible(request.user, Rule, rule_id)
    services.delete(actor=request.user, item=rule)
    return Status(204, None)


@router.get(
    "/automation/rules/{rule_id}/versions", response=list[VersionOut], summary="A rule's history"
)
def rule_versions(request: HttpRequest, rule_id: int) -> list[Any]:
    rule = services.get_visible(request.user, Rule, rule_id)
    return list(rule.versions.all())


@router.post(
    "/automation/rules/{rule_id}/dry-run",
    response=DryRunOut,
    summary="Test a rule on a ticket: what matches and what it would do, changing nothing",
)
def dry_run_rule(request: HttpRequest, rule_id: int, data: DryRunIn) -> dict[str, Any]:
    rule = services.get_visible(request.user, Rule, rule_id)
    ticket = _ticket(request, data.ticket_id)
    return _dry_run_out(
        services.dry_run(actor=request.user, item=rule, ticket=ticket, trigger=data.trigger)
    )


# --- Automations ---


@router.get(
    "/automation/automations", response=list[AutomationOut], summary="Time-based automations"
)
def list_automations(request: HttpRequest) -> list[dict[str, Any]]:
    items = services.visible(request.user, Automation).prefetch_related("business_lines")
    return [_automation_out(item) for item in items]


@router.post(
    "/automation/automations", response={201: AutomationOut}, summary="Create an automation"
)
def create_automation(
    request: HttpRequest, data: AutomationIn, response: HttpResponse
) -> Status[dict[str, Any]]:
    try:
        item = services.create_automation(actor=request.user, values=_values(data, partial=False))
    except DomainError as error:
        raise _api_error(error) from None
    _with_etag(response, item.version)
    return Status(201, _automation_out(item))


@router.get("/automation/automations/{item_id}", response=AutomationOut, summary="One automation")
def get_automation(request: HttpRequest, item_id: int, response: HttpResponse) -> dict[str, Any]:
    item = services.get_visible(request.user, Automation, item_id)
    _with_etag(response, item.version)
    return _automation_out(item)


@router.patch(
    "/automation/automations/{item_id}",
    response=AutomationOut,
    summary="Change an automation (If-Match)",
)
def update_automation(
    request: HttpRequest, item_id: int, data: AutomationPatch, response: HttpResponse
) -> dict[str, Any]:
    item = services.get_visible(request.user, Automation, item_id)
    try:
        item = services.update_automation(
            actor=request.user,
            automation=item,
            values=_values(data, partial=True),
            expected_version=expected_version(request),
        )
    except DomainError as error:
        raise _api_error(error) from None
    _with_etag(response, item.version)
    return _automation_out(item)


@router.delete(
    "/automation/automations/{item_id}", response={204: None}, summary="Delete an automation"
)
def delete_automation(request: HttpRequest, item_id: int) -> Status[None]:
    item = services.get_visible(request.user, Automation, item_id)
    services.delete(actor=request.user, item=item)
    return Status(204, None)


@router.get(
    "/automation/automations/{item_id}/versions",
    response=list[VersionOut],
    summary="An automation's history",
)
def automation_versions(request: HttpRequest, item_id: int) -> list[Any]:
    item = services.get_visible(request.user, Automation, item_id)
    return list(item.versions.all())


@router.post(
    "/automation/automations/{item_id}/dry-run",
    response=DryRunOut,
    summary="Test an automation on a ticket, changing nothing",
)
def dry_run_automation(request: HttpRequest, item_id: int, data: DryRunIn) -> dict[str, Any]:
    item = services.get_visible(request.user, Automation, item_id)
    ticket = _ticket(request, data.ticket_id)
    return _dry_run_out(services.dry_run(actor=request.user, item=item, ticket=ticket))


# --- A ticket's log ---


@router.get(
    "/tickets/{ticket_id}/automation-log",
    response=list[ExecutionOut],
    summary="Which rule or automation did what to this ticket, and why",
)
def ticket_log(request: HttpRequest, ticket_id: int) -> list[dict[str, Any]]:
    ticket = _ticket(request, ticket_id)
    return [
        {
            **{
                f: getattr(row, f)
                for f in (
                    "id",
                    "rule_id",
                    "automation_id",
                    "name",
                    "version",
                    "trigger",
                    "chain",
                    "depth",
                    "outcome",
                    "created_at",
                )
            },
            "steps": _steps(row.steps),
        }
        for row in selectors.log_of(request.user, ticket)
    ]
