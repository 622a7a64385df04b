"""The audit log: an append-only record of who changed what, when and from where."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEntry(models.Model):
    """One thing that happened: a change to data or configuration, a login, an export, a grant.

    Entries are never updated or deleted: the model refuses it, and database triggers
    (see the migration) refuse it too, so not even a raw SQL session can rewrite history.
    """

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")
        DELETED = "deleted", _("Deleted")
        LOGIN = "login", _("Logged in")
        LOGIN_FAILED = "login_failed", _("Login failed")
        LOGOUT = "logout", _("Logged out")
        EXPORTED = "exported", _("Exported")
        PERMISSION_CHANGED = "permission_changed", _("Permission changed")
        SECURITY = "security", _("Security setting changed")

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    # DO_NOTHING, not SET_NULL: entries are never updated, so removing a person must leave
    # their id (and actor_label) in place rather than try to rewrite history and fail.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        verbose_name=_("actor"),
        db_constraint=False,
    )
    actor_label = models.CharField(_("actor"), max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    via = models.CharField(max_length=16, blank=True)
    action = models.CharField(_("action"), max_length=32, choices=Action.choices, db_index=True)
    verb = models.CharField(_("what"), max_length=64, blank=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True, db_index=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx"),
            models.Index(fields=["actor", "-at"], name="audit_actor_idx"),
            models.Index(fields=["action", "object_repr", "-at"], name="audit_action_repr_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit entries are append-only.")

    @property
    def changes(self) -> list[tuple[str, Any, Any]] | None:
        """Field by field (name, before, after) when both sides are field maps; else None."""
        before = self.before if self.before is not None else {}
        after = self.after if self.after is not None else {}
        if not isinstance(before, dict) or not isinstance(after, dict):
            return None
        names = list(dict.fromkeys([*before, *after]))
        return [(name, before.get(name), after.get(name)) for name in names]
