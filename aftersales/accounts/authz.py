"""The one authorization layer: "may this actor do this to this object" and "what may they see".

Every page, API endpoint, export, search, count and background job acting for a user asks here.
The rules are written down in ``docs/authorization.md``:

* function level: a permission codename must be held through some role grant (and allowed by the
  API token's scopes when the request came with a token);
* data level: each grant carries a scope (own < my teams < my business lines < all); the widest
  scope among the grants holding the codename decides which rows ``restrict`` lets through, using
  the model's registered :class:`ScopeRule`;
* field level: :func:`register_field_rule` names the permission needed to read or write a field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models
from django.db.models import Q

from aftersales.accounts import catalog
from aftersales.accounts.models import RoleGrant, TeamMembership, User
from aftersales.core.errors import NotFound, PermissionDenied

M = TypeVar("M", bound=models.Model)

Scope = RoleGrant.Scope
SCOPE_RANK: dict[str, int] = {Scope.OWN: 1, Scope.TEAMS: 2, Scope.BUSINESS_LINES: 3, Scope.ALL: 4}


@dataclass(frozen=True)
class ScopeRule:
    """How a model's rows relate to a user: lookups from the row to its owner, team, line.

    A lookup may cross a many-valued relation; set ``many=True`` then, so ``restrict`` filters
    through a subquery and never returns a row twice. Each level may name several lookups (a
    tuple): a row belongs to a business line directly or through one of its teams, for example.
    """

    owner: str | tuple[str, ...] | None = None
    team: str | tuple[str, ...] | None = None
    business_line: str | tuple[str, ...] | None = None
    many: bool = False


_SCOPE_RULES: dict[type[models.Model], ScopeRule] = {}


@dataclass(frozen=True)
class FieldRule:
    read: str | None
    write: str | None


_FIELD_RULES: dict[tuple[str, str], FieldRule] = {}


def register_scope(model: type[models.Model], rule: ScopeRule) -> None:
    _SCOPE_RULES[model] = rule


def register_field_rule(
    model_label: str, field: str, *, read: str | None = None, write: str | None = None
) -> None:
    _FIELD_RULES[(model_label, field)] = FieldRule(read=read, write=write)


# --- What the actor holds ---------------------------------------------------------------------


def _token_scopes(user: Any) -> list[str] | None:
    return getattr(user, "_token_scopes", None)


def held_scopes(user: Any) -> dict[str, str]:
    """Map of codename → widest scope, for this user (cached on the user object)."""
    cached: dict[str, str] | None = getattr(user, "_aftersales_scopes", None)
    if cached is not None:
        return cached
    result: dict[str, str] = {}
    if user is not None and user.is_authenticated and user.is_active:
        if user.kind == User.Kind.STAFF or user.kind == User.Kind.INTEGRATION:
            if user.is_superuser:
                result = dict.fromkeys(catalog.all_permissions(), Scope.ALL)
            else:
                grants = RoleGrant.objects.filter(user=user).select_related("role")
                for grant in grants:
                    for codename in grant.role.permissions:
                        current = result.get(codename)
                        if current is None or SCOPE_RANK[grant.scope] > SCOPE_RANK[current]:
                            result[codename] = grant.scope
        token_scopes = _token_scopes(user)
        if token_scopes is not None:
            result = {c: s for c, s in result.items() if catalog.matches(c, token_scopes)}
    if user is not None:
        user._aftersales_scopes = result
    return result


def forget(user: Any) -> None:
    """Drop cached grants and team ids (after a change to the user's roles or teams)."""
    for attribute in ("_aftersales_scopes", "_aftersales_team_ids", "_aftersales_line_ids"):
        if hasattr(user, attribute):
            delattr(user, attribute)


def scope_for(user: Any, codename: str) -> str | None:
    return held_scopes(user).get(codename)


def has_permission(user: Any, codename: str, obj: models.Model | None = None) -> bool:
    scope = scope_for(user, codename)
    if scope is None:
        return False
    if obj is None or scope == Scope.ALL:
        return True
    return restrict(type(obj)._default_manager.filter(pk=obj.pk), user, codename).exists()


def require_permission(user: Any, codename: str, obj: models.Model | None = None) -> None:
    """Raise unless the user may do ``codename`` (to ``obj``).

    An object the user cannot even see raises :class:`NotFound`, so its existence stays hidden;
    one they see but may not act on raises :class:`PermissionDenied`.
    """
    if obj is not None:
        view = view_codename(type(obj))
        if view != codename and not has_permission(user, view, obj):
            raise NotFound("not_found")
    if not has_permission(user, codename, obj):
        if obj is not None and codename == view_codename(type(obj)):
            raise NotFound("not_found")
        raise PermissionDenied("permission_denied", params={"permission": codename})


def view_codename(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.view_{model._meta.model_name}"


# --- What the actor may see ---------------------------------------------------------------


def team_ids(user: Any) -> list[int]:
    cached: list[int] | None = getattr(user, "_aftersales_team_ids", None)
    if cached is None:
        cached = list(
            TeamMembership.objects.filter(user=user, team__is_active=True).values_list(
                "team_id", flat=True
            )
        )
        user._aftersales_team_ids = cached
    return cached


def business_line_ids(user: Any) -> list[int]:
    cached: list[int] | None = getattr(user, "_aftersales_line_ids", None)
    if cached is None:
        direct = set(user.business_lines.values_list("pk", flat=True))
        # Like team_ids: a deactivated team no longer carries its members anywhere.
        via_teams = set(
            TeamMembership.objects.filter(user=user, team__is_active=True).values_list(
                "team__business_line_id", flat=True
            )
        )
        cached = sorted(direct | via_teams)
        user._aftersales_line_ids = cached
    return cached


def scope_filter(user: Any, model: type[models.Model], scope: str) -> Q | None:
    """The Q that keeps the rows of ``model`` inside ``scope`` for ``user``; None means all."""
    if scope == Scope.ALL:
        return None
    rule = _SCOPE_RULES.get(model)
    if rule is None:
        # A model without a scope rule is configuration-like: only an "all" grant reaches it.
        return Q(pk__in=[])
    condition = Q(pk__in=[])
    for lookup in _lookups(rule.owner):
        condition |= Q(**{lookup: user.pk})
    if SCOPE_RANK[scope] >= SCOPE_RANK[Scope.TEAMS]:
        for lookup in _lookups(rule.team):
            condition |= Q(**{f"{lookup}__in": team_ids(user)})
    if SCOPE_RANK[scope] >= SCOPE_RANK[Scope.BUSINESS_LINES]:
        for lookup in _lookups(rule.business_line):
            condition |= Q(**{f"{lookup}__in": business_line_ids(user)})
    return condition


def _lookups(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if not value:
        return ()
    return (value,) if isinstance(value, str) else value


def restrict(
    queryset: models.QuerySet[M], user: Any, codename: str | None = None
) -> models.QuerySet[M]:
    """Narrow ``queryset`` to the rows ``user`` may ``codename`` (default: view)."""
    model = queryset.model
    codename = codename or view_codename(model)
    scope = scope_for(user, codename)
    if scope is None:
        return queryset.none()
    condition = scope_filter(user, model, scope)
    if condition is None:
        return queryset
    rule = _SCOPE_RULES.get(model)
    if rule is not None and rule.many:
        return queryset.filter(pk__in=model._default_manager.filter(condition).values("pk"))
    return queryset.filter(condition)


def drop_restriction(
    queryset: models.QuerySet[M], user: Any, codename: str | None = None
) -> models.QuerySet[M]:
    """``queryset`` without the condition :func:`restrict` added for ``user`` and ``codename``.

    Only for a caller that has narrowed the rows since to a part of the scope, e.g. to the
    user's own teams for a "my teams" grant: the scope condition then changes no row, but
    PostgreSQL multiplies its estimate with the narrowing one (it cannot see that one implies
    the other) and picks a plan for a few rows that meets thousands. The condition is found by
    equality with the one :func:`restrict` builds now; when it is not there (another codename,
    a subquery rule, a changed grant), the queryset is returned unchanged, still correct.
    """
    model = queryset.model
    scope = scope_for(user, codename or view_codename(model))
    rule = _SCOPE_RULES.get(model)
    if scope is None or rule is None or rule.many:
        return queryset
    condition = scope_filter(user, model, scope)
    if condition is None:
        return queryset
    added = model._default_manager.filter(condition).query.where.children
    narrowed = queryset.all()
    where = narrowed.query.where
    if where.connector != "AND" or where.negated or len(added) != 1:
        return queryset
    kept = [child for child in where.children if child != added[0]]
    if len(kept) != len(where.children) - 1:
        return queryset
    where.children = kept
    return narrowed


# --- Fields ----------------------------------------------------------------------------------


def can_read_field(user: Any, model_label: str, field: str) -> bool:
    rule = _FIELD_RULES.get((model_label, field))
    return rule is None or rule.read is None or scope_for(user, rule.read) is not None


def can_write_field(user: Any, model_label: str, field: str) -> bool:
    rule = _FIELD_RULES.get((model_label, field))
    return rule is None or rule.write is None or scope_for(user, rule.write) is not None


def require_writable_fields(user: Any, model_label: str, fields: Iterable[str]) -> None:
    for field in fields:
        if not can_write_field(user, model_label, field):
            raise PermissionDenied("field_not_writable", field=field)


def field_rules() -> dict[tuple[str, str], FieldRule]:
    return dict(_FIELD_RULES)


def may_grant(actor: Any, permissions: Iterable[str], scope: str) -> list[str]:
    """Codenames the actor would be handing out beyond their own reach (empty: allowed)."""
    held = held_scopes(actor)
    return [
        codename
        for codename in permissions
        if codename not in held or SCOPE_RANK[held[codename]] < SCOPE_RANK[scope]
    ]


def reaches_beyond(actor: Any, user: Any) -> list[str]:
    """Codenames ``user`` holds at a wider scope than ``actor`` (empty: actor reaches them all).

    Acting *as* someone (a token for them, their password, their e-mail) is only for an actor
    who already holds everything they hold; otherwise it would be a way around no-escalation.
    """
    held = held_scopes(actor)
    return [
        codename
        for codename, scope in held_scopes(user).items()
        if codename not in held or SCOPE_RANK[held[codename]] < SCOPE_RANK[scope]
    ]
