from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SlaConfig(AppConfig):
    name = "aftersales.sla"
    label = "sla"
    verbose_name = _("Service levels")

    def ready(self) -> None:
        from datetime import timedelta

        from aftersales.accounts import authz, catalog
        from aftersales.outbox.registry import register_subscriber
        from aftersales.outbox.scheduler import register_periodic
        from aftersales.sla import backfill, schedules, timers
        from aftersales.sla.models import Calendar, Policy

        catalog.register_object_type(
            "sla", "calendar", _("Business calendars"), actions=("view", "add", "change", "delete")
        )
        # A calendar belongs to a business line or to a team (and so to the team's line).
        authz.register_scope(
            Calendar,
            authz.ScopeRule(team="team", business_line=("business_line", "team__business_line")),
        )
        # Holiday sets are shared by every calendar: no scope rule, so only "all" grants may
        # change them; selectors.holiday_sets_visible_to lets any holder of view_holidayset read.
        catalog.register_object_type(
            "sla", "holidayset", _("Holiday sets"), actions=("view", "add", "change")
        )
        catalog.register_object_type(
            "sla", "policy", _("SLA policies"), actions=("view", "add", "change", "delete")
        )
        authz.register_scope(Policy, authz.ScopeRule(business_line="business_lines", many=True))
        # Clocks follow the ticket right after each change commits (a worker retries).
        register_subscriber(
            "sla.timers",
            ("ticket.created", "ticket.updated", "ticket.commented", "ticket.status_changed"),
            timers.on_ticket_event,
            eager=True,
        )
        # Edited calendars and policies move the open clocks; a worker does it, not the request.
        register_subscriber(
            "sla.recompute", ("calendar.changed", "sla_policy.changed"), timers.on_config_changed
        )
        # A policy created or changed reaches the open tickets that lack its clocks; in
        # batches that commit one by one (not transactional), resumed after a crash.
        register_subscriber(
            "sla.backfill",
            ("sla_policy.created", "sla_policy.changed"),
            backfill.on_policy_saved,
            transactional=False,
        )
        # A deadline that needs an unloaded year's holiday schedule: tell the admins, once.
        register_subscriber(
            "sla.schedule_missing", (schedules.TOPIC,), schedules.on_schedule_missing
        )
        register_periodic(
            "sla.sweep", every=timedelta(seconds=timers.sweep_seconds()), function=timers.sweep_now
        )
