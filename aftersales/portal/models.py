"""One-time sign-in codes for the portal; everything else the portal shows belongs to tickets."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SignInCode(models.Model):
    """A six-digit code sent to a customer's e-mail address or phone to sign in without a
    password. Only a keyed hash is stored; a code works once, for a few minutes, and a few
    wrong tries use it up."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        PHONE = "phone", _("Phone")

    channel = models.CharField(max_length=8, choices=Channel.choices)
    address = models.CharField(max_length=254)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="sign_in_codes"
    )
    code_hash = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["address", "-created_at"], name="signin_code_address_idx")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address}"
