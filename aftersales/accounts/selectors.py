"""Reads of the accounts domain, already narrowed to what the viewer may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from aftersales.accounts import authz
from aftersales.accounts.models import ApiToken, BusinessLine, Role, Team, User


def users_visible_to(viewer: Any) -> QuerySet[User]:
    return authz.restrict(User.objects.all(), viewer)


def teams_visible_to(viewer: Any) -> QuerySet[Team]:
    return authz.restrict(Team.objects.select_related("business_line", "lead"), viewer)


def business_lines_visible_to(viewer: Any) -> QuerySet[BusinessLine]:
    return authz.restrict(BusinessLine.objects.all(), viewer)


def roles_visible_to(viewer: Any) -> QuerySet[Role]:
    return authz.restrict(Role.objects.all(), viewer)


def tokens_visible_to(viewer: Any) -> QuerySet[ApiToken]:
    """One's own tokens always; others' through the API-token permission and its scope."""
    others = authz.restrict(ApiToken.objects.all(), viewer)
    own = ApiToken.objects.filter(user_id=getattr(viewer, "pk", None) or 0)
    return (others | own).select_related("user").distinct()
