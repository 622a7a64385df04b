"""Customers: tiers, organisations (B2B accounts), people, their identities and notes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, Team


class CustomerTier(models.Model):
    """A service level a customer is entitled to (VIP, normal…), configured by administrators.

    SLA policies and rules read the tier by ``key``. Exactly one tier may be the default: the
    tier of a customer for whom neither the request nor their organisation names one.
    """

    key = models.SlugField(_("key"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=80)
    name_en = models.CharField(_("name (English)"), max_length=80)
    rank = models.PositiveIntegerField(
        _("rank"), default=0, help_text=_("Higher ranks are served first.")
    )
    is_default = models.BooleanField(_("default"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-rank", "key"]
        verbose_name = _("customer tier")
        verbose_name_plural = _("customer tiers")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_tier"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """The name in the active language (Chinese for zh-*, English otherwise)."""
        language = (get_language() or "").lower()
        return self.name_zh if language.startswith("zh") else self.name_en


class Organisation(models.Model):
    """A company we serve (a B2B account). Its people are :class:`Customer` rows.

    It belongs to one business line, which is what data scopes hang on.
    """

    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=60, unique=True)
    tier = models.ForeignKey(
        CustomerTier, on_delete=models.PROTECT, related_name="organisations", verbose_name=_("tier")
    )
    business_line = models.ForeignKey(
        BusinessLine,
        on_delete=models.PROTECT,
        related_name="organisations",
        verbose_name=_("business line"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_organisations",
        verbose_name=_("account manager"),
    )
    tags = models.JSONField(_("tags"), default=list, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """A person we serve, whichever channels they reach us on.

    The same person on the phone, by e-mail and on WeChat is one customer with several
    :class:`CustomerIdentity` rows. A customer merged into another keeps its row (inactive,
    ``merged_into`` set) so links and history still resolve.
    """

    name = models.CharField(_("name"), max_length=200)
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        verbose_name=_("organisation"),
    )
    tier = models.ForeignKey(
        CustomerTier, on_delete=models.PROTECT, related_name="customers", verbose_name=_("tier")
    )
    business_line = models.ForeignKey(
        BusinessLine,
        on_delete=models.PROTECT,
        related_name="customers",
        verbose_name=_("business line"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
        verbose_name=_("account manager"),
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
        verbose_name=_("team"),
    )
    tags = models.JSONField(_("tags"), default=list, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    portal_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer_record",
        verbose_name=_("portal login"),
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_customers",
        verbose_name=_("merged into"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["business_line", "name"], name="customer_line_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class CustomerIdentity(models.Model):
    """One way a customer reaches us: a phone number, an e-mail address, a WeChat openid…

    ``value`` is stored normalised (see :mod:`aftersales.customers.identities`). Among active
    identities a (kind, value) pair is unique, so an incoming message maps to at most one
    customer. ``is_active`` follows the customer's: a deactivated or merged customer no longer
    holds its identities against others.
    """

    class Kind(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("E-mail")
        WECHAT_OPENID = "wechat_openid", _("WeChat openid")
        WECHAT_UNIONID = "wechat_unionid", _("WeChat unionid")
        WECOM_EXTERNAL_ID = "wecom_external_id", _("WeCom external contact id")
        DINGTALK_ID = "dingtalk_id", _("DingTalk id")
        APP_USER_ID = "app_user_id", _("App user id")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="identities", verbose_name=_("customer")
    )
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=254)
    is_active = models.BooleanField(default=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "value", "pk"]
        verbose_name = _("customer identity")
        verbose_name_plural = _("customer identities")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "value"],
                condition=Q(is_active=True),
                name="one_active_identity_per_value",
            )
        ]
        indexes = [models.Index(fields=["kind", "value"], name="identity_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class CustomerNote(models.Model):
    """A remark about a customer written by staff. Notes are never edited or deleted."""

    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="customer_notes",
        verbose_name=_("customer"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("author"),
    )
    body = models.TextField(_("note"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("customer note")
        verbose_name_plural = _("customer notes")

    def __str__(self) -> str:
        return self.body[:60]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("Customer notes are append-only.")
        super().save(*args, **kwargs)
