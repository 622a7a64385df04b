"""The left-hand navigation, built from what the signed-in person may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    permission: str | None
    section: str | Promise


NAV_ITEMS: list[NavItem] = [
    NavItem(_("Home"), "web:home", None, _("Workspace")),
    NavItem(_("Tickets"), "tickets:inbox", "tickets.view_ticket", _("Workspace")),
    NavItem(_("SLA at risk"), "sla_policies:at_risk", "tickets.view_ticket", _("Workspace")),
    NavItem(_("Customers"), "customers:customer_list", "customers.view_customer", _("Workspace")),
    NavItem(_("Phone calls"), "calls:call_list", "tickets.view_ticket", _("Workspace")),
    NavItem(_("Knowledge"), "knowledge:article_list", "knowledge.view_article", _("Workspace")),
    NavItem(_("Satisfaction"), "surveys:responses", "surveys.view_survey", _("Workspace")),
    NavItem(_("Macros"), "tickets:macro_list", "tickets.view_ticket", _("Workspace")),
    NavItem(_("Queues"), "routing:queue_list", "routing.view_queue", _("Workspace")),
    NavItem(_("Users"), "accounts:user_list", "accounts.view_user", _("Settings")),
    NavItem(_("Teams"), "accounts:team_list", "accounts.view_team", _("Settings")),
    NavItem(
        _("Business lines"),
        "accounts:businessline_list",
        "accounts.view_businessline",
        _("Settings"),
    ),
    NavItem(_("Roles"), "accounts:role_list", "accounts.view_role", _("Settings")),
    NavItem(
        _("Custom fields"),
        "customfields:field_list",
        "customfields.view_fielddefinition",
        _("Settings"),
    ),
    NavItem(_("Ticket types"), "tickets:type_list", "tickets.view_tickettype", _("Settings")),
    NavItem(_("Calendars"), "sla:calendar_list", "sla.view_calendar", _("Settings")),
    NavItem(_("SLA policies"), "sla_policies:policy_list", "sla.view_policy", _("Settings")),
    NavItem(_("Rules"), "automation:rule_list", "automation.view_rule", _("Settings")),
    NavItem(
        _("Time-based automations"),
        "automation:automation_list",
        "automation.view_automation",
        _("Settings"),
    ),
    NavItem(_("Try a condition"), "conditions:try", "conditions.try_condition", _("Settings")),
    NavItem(_("Routing"), "routing:settings", "routing.change_teamrouting", _("Settings")),
    NavItem(_("Mailboxes"), "channels:mailbox_list", "channels.manage_mailboxes", _("Settings")),
    NavItem(
        _("WeChat, WeCom and DingTalk"),
        "messaging:accounts",
        "messaging.view_platformaccount",
        _("Settings"),
    ),
    NavItem(_("Web forms"), "webforms:list", "webforms.view_webform", _("Settings")),
    NavItem(
        _("Survey settings"), "surveys:settings_list", "surveys.view_surveysettings", _("Settings")
    ),
    NavItem(
        _("Search synonyms"), "knowledge:synonym_list", "knowledge.view_synonym", _("Settings")
    ),
    NavItem(
        _("Notification templates"),
        "notifications:template_list",
        "notifications.view_notificationtemplate",
        _("Settings"),
    ),
    NavItem(_("API tokens"), "accounts:token_list", None, _("Settings")),
    NavItem(_("Audit log"), "audit:entry_list", "audit.view_auditentry", _("Settings")),
]


def navigation_for(user: Any, path: str) -> list[dict[str, Any]]:
    if user is None or not user.is_authenticated or user.kind == "customer":
        return []
    sections: dict[str, dict[str, Any]] = {}
    entries: list[dict[str, Any]] = []
    for item in NAV_ITEMS:
        if item.permission and not authz.has_permission(user, item.permission):
            continue
        url = reverse(item.url_name)
        key = str(item.section)
        section = sections.setdefault(key, {"label": item.section, "items": []})
        entry = {"label": item.label, "url": url, "active": False}
        section["items"].append(entry)
        entries.append(entry)
    # One entry is current: the longest URL the path lies under (/tickets/settings/types/ is
    # "Ticket types", not also "Tickets").
    matches = [
        e for e in entries if (path == e["url"] if e["url"] == "/" else path.startswith(e["url"]))
    ]
    if matches:
        max(matches, key=lambda e: len(e["url"]))["active"] = True
    return list(sections.values())
