"""The request type of views that run only after sign-in."""

from __future__ import annotations

from django.http import HttpRequest

from aftersales.accounts.models import User


class AuthenticatedRequest(HttpRequest):
    """A request whose user passed sign-in (views behind ``signed_in``, API after auth)."""

    user: User
