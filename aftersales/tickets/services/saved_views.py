"""Use cases of saved views: an agent's named inbox filter and sort, kept or shared.

Filters are checked by :func:`~aftersales.tickets.filtering.clean_filters`, the same allowlist
as the ticket list API, and stored as written (query-string style: key → list of strings), so a
relative date such as ``-P7D`` keeps meaning "the last seven days" each time the view is opened.
Anyone who may see tickets keeps personal views; sharing one with everyone takes
``tickets.share_savedview``. Only the owner edits a personal view; a shared one is edited by
whoever may share views.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError, NotFound, PermissionDenied, PreconditionFailed
from aftersales.outbox import services as outbox
from aftersales.tickets import filtering, selectors
from aftersales.tickets.models import SavedView
from aftersales.tickets.permissions import SHARE_VIEW, VIEW_TICKET

__all__ = [
    "create_saved_view",
    "delete_saved_view",
    "may_edit_saved_view",
    "update_saved_view",
]

Action = AuditEntry.Action
MAX_NAME = 120
MAX_POSITION = 10_000
EDITABLE = ("name", "filters", "sort", "is_shared", "position")


def _clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("required", field="name", message=_("This field is required."))
    value = " ".join(value.split())
    if len(value) > MAX_NAME:
        raise DomainError(
            "too_long",
            field="name",
            message=_("Enter at most %(max_length)s characters."),
            params={"max_length": MAX_NAME},
        )
    return value


def _clean_filters(value: Any) -> dict[str, list[str]]:
    """The filters as written, checked by the ticket filter allowlist; a refusal names
    ``filters.<key>``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DomainError("invalid", field="filters", message=_("Enter an object of filters."))
    stored: dict[str, list[str]] = {}
    for key, raw in value.items():
        values = list(raw) if isinstance(raw, list | tuple) else [raw]
        if any(isinstance(v, dict | list | tuple) for v in values):
            raise DomainError(
                "invalid_filter", field=f"filters.{key}", message=_("Enter text or numbers.")
            )
        texts = [str(v).strip() for v in values if v is not None and str(v).strip()]
        if texts:
            stored[str(key)] = texts
    try:
        filtering.clean_filters(stored)
    except DomainError as error:
        error.field = f"filters.{error.field}" if error.field else "filters"
        raise
    return dict(sorted(stored.items()))


def _clean_position(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_POSITION:
        raise DomainError(
            "invalid",
            field="position",
            message=_("Enter a whole number from 0 to %(max)s."),
            params={"max": MAX_POSITION},
        )
    return value


def _require_viewer(actor: Any) -> None:
    if selectors.is_contact(actor) or authz.scope_for(actor, VIEW_TICKET) is None:
        raise PermissionDenied("permission_denied", params={"permission": VIEW_TICKET})


def _check_sharing(actor: Any, is_shared: bool) -> None:
    if is_shared and not authz.has_permission(actor, SHARE_VIEW):
        raise PermissionDenied(
            "permission_denied", field="is_shared", params={"permission": SHARE_VIEW}
        )


def may_edit_saved_view(actor: Any, view: SavedView) -> bool:
    """Personal: its owner. Shared: whoever may share views (the owner included)."""
    if view.is_shared:
        return authz.has_permission(actor, SHARE_VIEW)
    return view.owner_id == getattr(actor, "pk", None)


def _require_editor(actor: Any, view: SavedView) -> None:
    _require_viewer(actor)
    if not view.is_shared and view.owner_id != actor.pk:
        raise NotFound("not_found")  # another person's personal view does not exist for you
    if not may_edit_saved_view(actor, view):
        raise PermissionDenied("permission_denied", params={"permission": SHARE_VIEW})


def _payload(view: SavedView, **extra: Any) -> dict[str, Any]:
    return {
        "saved_view_id": view.pk,
        "name": view.name,
        "owner_id": view.owner_id,
        "is_shared": view.is_shared,
        **extra,
    }


@transaction.atomic
def create_saved_view(
    *,
    actor: Any,
    name: Any,
    filters: Any = None,
    sort: Any = filtering.DEFAULT_SORT,
    is_shared: bool = False,
    position: Any = 0,
) -> SavedView:
    """Keep a named filter and sort for the actor, or share it with everyone."""
    _require_viewer(actor)
    _check_sharing(actor, bool(is_shared))
    view = SavedView(
        name=_clean_name(name),
        owner=actor,
        is_shared=bool(is_shared),
        filters=_clean_filters(filters),
        sort=filtering.clean_sort(sort),
        position=_clean_position(position),
    )
    view.save(force_insert=True)
    audit.record(actor=actor, action=Action.CREATED, obj=view, after=audit.snapshot(view))
    outbox.emit("saved_view.created", view, actor=actor, payload=_payload(view))
    return view


@transaction.atomic
def update_saved_view(
    *,
    actor: Any,
    view: SavedView,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
) -> SavedView:
    """Rename, refilter, resort, move, share or un-share a view (keys of ``EDITABLE``)."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise DomainError(
            "unknown_field", field=unknown[0], message=_("This field cannot be changed.")
        )
    view = SavedView.objects.select_for_update().get(pk=view.pk)
    _require_editor(actor, view)
    if expected_version is not None and view.version != expected_version:
        raise PreconditionFailed(
            "version_mismatch",
            field="If-Match",
            message=_("Someone changed this view since you opened it. Reload and try again."),
        )
    before = audit.snapshot(view)
    if "name" in changes:
        view.name = _clean_name(changes["name"])
    if "filters" in changes:
        view.filters = _clean_filters(changes["filters"])
    if "sort" in changes:
        view.sort = filtering.clean_sort(changes["sort"])
    if "position" in changes:
        view.position = _clean_position(changes["position"])
    if "is_shared" in changes and bool(changes["is_shared"]) != view.is_shared:
        _check_sharing(actor, True)  # sharing and un-sharing both change what others see
        view.is_shared = bool(changes["is_shared"])
    after = audit.snapshot(view)
    changed = [name for name in after if before.get(name) != after.get(name)]
    if not changed:
        return view
    view.version += 1
    view.save(update_fields=[*changed, "version", "updated_at"])
    audit.record_change(actor=actor, obj=view, before=before)
    outbox.emit("saved_view.updated", view, actor=actor, payload=_payload(view, fields=changed))
    return view


@transaction.atomic
def delete_saved_view(*, actor: Any, view: SavedView) -> None:
    """Remove a view; nothing else refers to it."""
    view = SavedView.objects.select_for_update().get(pk=view.pk)
    _require_editor(actor, view)
    audit.record(actor=actor, action=Action.DELETED, obj=view, before=audit.snapshot(view))
    outbox.emit("saved_view.deleted", view, actor=actor, payload=_payload(view))
    view.delete()
