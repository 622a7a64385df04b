"""Definitions of custom fields, and their immutable version history."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from aftersales.customfields import registry

KEY_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9_]{0,62}$",
    _("Use lowercase letters, digits and underscores, starting with a letter."),
)


class FieldDefinition(models.Model):
    """One custom field on one kind of object (``target``), optionally for one sub-kind.

    ``subtarget`` narrows a field to e.g. one ticket type; blank means every sub-kind. A key is
    unique across a target's blank subtarget and each of its subtargets, because their values
    share one ``custom_fields`` JSON object on the owning row. The type is fixed once created:
    stored values were validated against it. ``version`` grows with every change and each
    version is kept as a :class:`FieldDefinitionVersion`.
    """

    target = models.CharField(_("applies to"), max_length=100)
    subtarget = models.CharField(_("only for"), max_length=100, blank=True, default="")
    key = models.CharField(_("key"), max_length=63, validators=[KEY_VALIDATOR])
    label_zh = models.CharField(_("label (Chinese)"), max_length=200)
    label_en = models.CharField(_("label (English)"), max_length=200)
    help_zh = models.CharField(_("help text (Chinese)"), max_length=500, blank=True, default="")
    help_en = models.CharField(_("help text (English)"), max_length=500, blank=True, default="")
    field_type = models.CharField(_("type"), max_length=40)
    config = models.JSONField(_("configuration"), default=dict, blank=True)
    is_required = models.BooleanField(_("required"), default=False)
    default = models.JSONField(_("default"), null=True, blank=True)
    visible_when = models.JSONField(_("visible when"), null=True, blank=True)
    edit_permission = models.CharField(
        _("permission needed to edit"), max_length=100, blank=True, default=""
    )
    customer_visible = models.BooleanField(_("customer sees it"), default=False)
    customer_editable = models.BooleanField(_("customer fills it"), default=False)
    section = models.CharField(_("section"), max_length=100, blank=True, default="")
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ("target", "subtarget", "section", "position", "pk")
        constraints = [
            models.UniqueConstraint(
                fields=("target", "subtarget", "key"), name="customfields_unique_key"
            ),
            models.CheckConstraint(
                condition=~models.Q(customer_editable=True, customer_visible=False),
                name="customfields_customer_editable_is_visible",
            ),
        ]
        indexes = [models.Index(fields=("target", "subtarget", "is_active"))]

    def __str__(self) -> str:
        return f"{self.target}:{self.subtarget or '*'}:{self.key}"

    def label(self, language: str) -> str:
        if language.startswith("zh"):
            return self.label_zh or self.label_en
        return self.label_en or self.label_zh

    def help(self, language: str) -> str:
        if language.startswith("zh"):
            return self.help_zh or self.help_en
        return self.help_en or self.help_zh

    @property
    def handler(self) -> registry.FieldType:
        return registry.get(self.field_type)

    @property
    def parsed_config(self) -> Any:
        """The config, validated by the type's pydantic model on every load (cached per row)."""
        cached = self.__dict__.get("_parsed_config")
        if cached is None or cached[0] != self.config:
            cached = (self.config, self.handler.parse_config(self.config))
            self.__dict__["_parsed_config"] = cached
        return cached[1]

    def snapshot(self) -> dict[str, Any]:
        """Everything that gives a stored value its meaning, as stored in a version."""
        return {name: getattr(self, name) for name in SNAPSHOT_FIELDS}

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> FieldDefinition:
        """An unsaved definition as it was at that version (for rendering old values)."""
        return cls(**{k: v for k, v in snapshot.items() if k in SNAPSHOT_FIELDS})


SNAPSHOT_FIELDS = (
    "target",
    "subtarget",
    "key",
    "label_zh",
    "label_en",
    "help_zh",
    "help_en",
    "field_type",
    "config",
    "is_required",
    "default",
    "visible_when",
    "edit_permission",
    "customer_visible",
    "customer_editable",
    "section",
    "position",
    "is_active",
    "version",
)


class FieldDefinitionVersion(models.Model):
    """A definition as it was at one version; written once, never changed."""

    definition = models.ForeignKey(
        FieldDefinition, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField(_("version"))
    snapshot = models.JSONField(_("snapshot"))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("custom field version")
        verbose_name_plural = _("custom field versions")
        ordering = ("definition", "version")
        constraints = [
            models.UniqueConstraint(
                fields=("definition", "version"), name="customfields_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.definition_id} v{self.version}"

    def as_definition(self) -> FieldDefinition:
        return FieldDefinition.from_snapshot(self.snapshot)
