"""SLA attainment: clocks that ended (met, or breached) per month started, team, policy,
priority and metric, over the tickets the viewer may see; on a page and as CSV or Excel."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.utils import translation
from django.utils.translation import gettext as _

from aftersales.accounts import authz
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError
from aftersales.customers.exporting import ExportFile, to_csv, to_xlsx
from aftersales.customers.importing import Format
from aftersales.sla.models import TicketSlaTarget

VIEW_POLICY = "sla.view_policy"
MAX_ROWS = 5000


def attainment_for(viewer: Any, *, limit: int = 500) -> list[dict[str, Any]]:
    """Rows ``month``, ``team``, ``policy``, ``priority``, ``metric``, ``total``,
    ``in_time``, ``percent``, newest month first. A clock met while it had no deadline (its
    holiday schedule not loaded) counts once the year is loaded and it is recomputed."""
    from aftersales.tickets.selectors import tickets_visible_to

    visible = tickets_visible_to(viewer).values("pk")
    finished = (Q(state=TicketSlaTarget.State.MET) | Q(breached_at__isnull=False)) & Q(
        due_at__isnull=False
    )
    rows = (
        TicketSlaTarget.objects.filter(finished, ticket_id__in=visible)
        .annotate(month=TruncMonth("started_at"))
        .values("month", "ticket__team__name", "policy__name", "ticket__priority", "metric")
        .annotate(
            total=Count("pk"),
            in_time=Count(
                "pk", filter=Q(state=TicketSlaTarget.State.MET, breached_at__isnull=True)
            ),
        )
        .order_by("-month", "ticket__team__name", "policy__name", "ticket__priority", "metric")
    )
    return [
        {
            "month": row["month"],
            "team": row["ticket__team__name"] or "",
            "policy": row["policy__name"] or "",
            "priority": row["ticket__priority"],
            "metric": row["metric"],
            "total": row["total"],
            "in_time": row["in_time"],
            "percent": round(100 * row["in_time"] / row["total"], 1) if row["total"] else None,
        }
        for row in rows[:limit]
    ]


@transaction.atomic
def export_attainment(*, actor: Any, format: str) -> ExportFile:
    """The attainment table the actor may see as a CSV or Excel file; the export is audited.
    Headers and labels are in the active language, numbers stay numbers in words."""
    from aftersales.sla.templatetags.sla import sla_metric, sla_priority

    authz.require_permission(actor, VIEW_POLICY)
    if format not in Format.ALL:
        raise DomainError("invalid_format", field="format", message=_("Choose csv or xlsx."))
    rows = attainment_for(actor, limit=MAX_ROWS)
    header = [
        _("Month"),
        _("Team"),
        _("Policy"),
        _("Priority"),
        _("Metric"),
        _("Ended"),
        _("In time"),
        _("Attainment (%)"),
    ]
    cells = [
        [
            row["month"].strftime("%Y-%m") if row["month"] else "",
            row["team"],
            row["policy"],
            sla_priority(row["priority"]),
            sla_metric(row["metric"]),
            row["total"],
            row["in_time"],
            "" if row["percent"] is None else row["percent"],
        ]
        for row in rows
    ]
    audit.record(
        actor=actor,
        action=AuditEntry.Action.EXPORTED,
        object_type="sla.policy",
        object_repr=f"sla-attainment.{format}",
        after={"rows": len(cells), "format": format, "language": translation.get_language()},
    )
    if format == Format.CSV:
        return ExportFile("sla-attainment.csv", "text/csv; charset=utf-8", to_csv(header, cells))
    return ExportFile(
        "sla-attainment.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        to_xlsx(header, cells),
    )
