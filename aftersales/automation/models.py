"""Rules that react to ticket events, automations that fire on elapsed time, and the log of
what either did to which ticket and why."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine


class Trigger(models.TextChoices):
    """The ticket events a rule can react to."""

    CREATED = "created", _("Ticket created")
    UPDATED = "updated", _("Ticket updated")
    CUSTOMER_REPLIED = "customer_replied", _("Customer replied")
    AGENT_REPLIED = "agent_replied", _("Agent replied")
    STATUS_CHANGED = "status_changed", _("Status changed")
    ASSIGNED = "assigned", _("Ticket assigned")
    SLA_WARNING = "sla_warning", _("SLA warning")
    SLA_BREACHED = "sla_breached", _("SLA breached")
    SURVEY_ANSWERED = "survey_answered", _("Survey answered")


class RuleSet(models.Model):
    """One row whose ``generation`` changes with every change to any rule or automation, so each
    process can keep compiled rules in memory and reload them only when they changed."""

    generation = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"rules generation {self.generation}"


class _Configured(models.Model):
    """What rules and automations share: a name, the lines they apply to, a condition, actions."""

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    # No line: the rule applies to every business line.
    business_lines = models.ManyToManyField(
        BusinessLine, blank=True, related_name="+", verbose_name=_("business lines")
    )
    condition = models.JSONField(_("conditions"), default=dict, blank=True)
    condition_cel = models.TextField(editable=False, default="true")
    actions = models.JSONField(_("actions"), default=list)
    position = models.PositiveIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name


class Rule(_Configured):
    """On a ticket event: if the conditions hold, do the actions (in order), once per chain."""

    triggers = models.JSONField(_("when"), default=list)
    stop_processing = models.BooleanField(_("stop further rules"), default=False)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("rule")
        verbose_name_plural = _("rules")


class Automation(_Configured):
    """On elapsed time: tickets in the given categories whose clock field passed the threshold
    and that meet the conditions get the actions, once per ticket."""

    class Clock(models.TextChoices):
        CREATED = "created_at", _("Created")
        UPDATED = "updated_at", _("Last updated")
        STATUS_CHANGED = "status_changed_at", _("Status last changed")
        DUE = "due_at", _("Due")

    clock = models.CharField(_("time since"), max_length=32, choices=Clock.choices)
    # For ``due_at`` the threshold is before the due time ("due within 4 hours or overdue").
    hours = models.DecimalField(_("hours"), max_digits=7, decimal_places=2)
    business_hours = models.BooleanField(_("count business hours only"), default=False)
    calendar = models.ForeignKey(
        "sla.Calendar",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("business calendar"),
    )
    status_categories = models.JSONField(_("status categories"), default=list)
    # The sweep's watermark: tickets whose clock passed ``swept_until`` were looked at.
    swept_until = models.DateTimeField(null=True, blank=True, editable=False)
    # A sweep cut short stopped after this ticket (of those whose clock equals swept_until).
    swept_after_id = models.BigIntegerField(null=True, blank=True, editable=False)
    swept_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("time-based automation")
        verbose_name_plural = _("time-based automations")


class RuleVersion(models.Model):
    """What a rule or automation looked like at each version, for review and rollback."""

    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.CASCADE, related_name="versions"
    )
    automation = models.ForeignKey(
        Automation, null=True, blank=True, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "version"], name="one_rule_version"),
            models.UniqueConstraint(
                fields=["automation", "version"], name="one_automation_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id or self.automation_id} v{self.version}"


class AutomationFiring(models.Model):
    """Proof that an automation acted on a ticket: the unique key makes it act only once."""

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="firings")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    fired_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["automation", "ticket"], name="fire_once_per_ticket")
        ]

    def __str__(self) -> str:
        return f"{self.automation_id} → {self.ticket_id}"


class Execution(models.Model):
    """One line of a ticket's automation log: which rule did what, and why."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Applied")
        PARTIAL = "partial", _("Partly applied")
        FAILED = "failed", _("Failed")
        DEPTH_LIMIT = "depth_limit", _("Stopped at the chain limit")

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="automation_log"
    )
    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automation = models.ForeignKey(
        Automation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The name and version at the time, kept when the rule is later renamed or deleted.
    name = models.CharField(max_length=120)
    version = models.PositiveIntegerField(default=1)
    trigger = models.CharField(max_length=40)
    event_id = models.UUIDField(null=True, blank=True)
    chain = models.CharField(max_length=64, blank=True)
    depth = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # [{"action": "assign_team", "text": "assigned to Li Lei (round-robin)", "ok": true}, ...]
    steps = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["ticket", "-created_at"], name="execution_ticket_idx"),
            models.Index(fields=["ticket", "chain"], name="execution_chain_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.ticket_id}: {self.outcome}"
