"""The permission catalogue: every codename that a role can hold, registered by the apps.

Apps register object types (which expand into view/add/change/delete/export/configure
codenames) and special permissions (``tickets.take_ticket``…) in ``AppConfig.ready``.
Predefined roles are written as codename patterns so that permissions added by later apps
join them automatically when the roles are synced after ``migrate``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

STANDARD_ACTIONS: tuple[str, ...] = ("view", "add", "change", "delete", "export", "configure")

ACTION_LABELS: dict[str, Promise] = {
    "view": _("View"),
    "add": _("Add"),
    "change": _("Change"),
    "delete": _("Delete"),
    "export": _("Export"),
    "configure": _("Configure"),
}


@dataclass(frozen=True)
class PermissionDef:
    codename: str
    label: str | Promise
    group: str | Promise
    object_type: str | None = None


@dataclass(frozen=True)
class PredefinedRole:
    key: str
    label: str | Promise
    description: str | Promise
    patterns: tuple[str, ...]
    requires_two_factor: bool = False


_PERMISSIONS: dict[str, PermissionDef] = {}


def register_object_type(
    app_label: str,
    model_name: str,
    label: str | Promise,
    actions: Iterable[str] = STANDARD_ACTIONS,
) -> None:
    for action in actions:
        codename = f"{app_label}.{action}_{model_name}"
        _PERMISSIONS[codename] = PermissionDef(
            codename=codename,
            label=ACTION_LABELS.get(action, action),
            group=label,
            object_type=f"{app_label}.{model_name}",
        )


def register_permission(codename: str, label: str | Promise, group: str | Promise) -> None:
    if "." not in codename:
        raise ValueError(f"Permission codename {codename!r} must look like 'app.verb_noun'.")
    _PERMISSIONS[codename] = PermissionDef(codename=codename, label=label, group=group)


def all_permissions() -> dict[str, PermissionDef]:
    return dict(_PERMISSIONS)


def is_known(codename: str) -> bool:
    return codename in _PERMISSIONS


def expand(patterns: Iterable[str]) -> list[str]:
    """Codenames matched by shell-style patterns, in catalogue order."""
    patterns = list(patterns)
    return [c for c in _PERMISSIONS if any(fnmatch.fnmatchcase(c, p) for p in patterns)]


def matches(codename: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(codename, pattern) for pattern in patterns)


PREDEFINED_ROLES: dict[str, PredefinedRole] = {
    role.key: role
    for role in [
        PredefinedRole(
            key="admin",
            label=_("Administrator"),
            description=_("Everything, including configuration, users, roles and the audit log."),
            patterns=("*",),
        ),
        PredefinedRole(
            key="service-manager",
            label=_("Service manager"),
            description=_("Watches backlog and SLA, approves, reads reports, manages teams."),
            patterns=(
                "*.view_*",
                "*.export_*",
                "*.approve_*",
                "accounts.change_team",
                "tickets.*",
                "sla.*",
                "automation.*",
                "analytics.*",
                "fieldservice.*",
                "returns.*",
                "knowledge.*",
                "routing.*",
                "webforms.*",
                "surveys.*",
            ),
        ),
        PredefinedRole(
            key="agent",
            label=_("Agent"),
            description=_("First-line support: works the inbox, replies, classifies, resolves."),
            patterns=(
                "accounts.view_user",
                "accounts.view_team",
                "accounts.view_businessline",
                "customers.view_*",
                "customers.add_*",
                "customers.change_*",
                "tickets.view_*",
                "tickets.add_*",
                "tickets.change_ticket",
                "tickets.take_ticket",
                "tickets.reply_ticket",
                "tickets.merge_ticket",
                "knowledge.view_*",
                "assets.view_*",
                "routing.view_agentprofile",
                "routing.view_teamrouting",
                "routing.set_own_availability",
                "routing.get_next_ticket",
                "routing.view_queue",
            ),
        ),
        PredefinedRole(
            key="second-line",
            label=_("Second-line support"),
            description=_("Takes escalated tickets; collaborates with internal notes."),
            patterns=(
                "accounts.view_user",
                "accounts.view_team",
                "accounts.view_businessline",
                "customers.view_*",
                "tickets.view_*",
                "tickets.add_*",
                "tickets.change_ticket",
                "tickets.take_ticket",
                "tickets.reply_ticket",
                "tickets.merge_ticket",
                "knowledge.*",
                "assets.view_*",
                "routing.view_agentprofile",
                "routing.view_teamrouting",
                "routing.set_own_availability",
                "routing.get_next_ticket",
                "routing.view_queue",
            ),
        ),
        PredefinedRole(
            key="field-engineer",
            label=_("Field engineer"),
            description=_("Receives jobs, records work and parts, collects signatures."),
            patterns=(
                "accounts.view_user",
                "accounts.view_team",
                "customers.view_*",
                "tickets.view_ticket",
                "fieldservice.view_*",
                "fieldservice.change_*",
                "inventory.view_*",
                "inventory.add_requisition",
                "assets.view_*",
                "knowledge.view_*",
                "routing.set_own_availability",
            ),
        ),
        PredefinedRole(
            key="warehouse-keeper",
            label=_("Warehouse keeper"),
            description=_("Spare-parts stock: approves and issues requisitions, receives returns."),
            patterns=(
                "accounts.view_user",
                "accounts.view_team",
                "inventory.*",
                "returns.view_*",
                "returns.change_*",
            ),
        ),
    ]
}
