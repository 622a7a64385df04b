"""API for users, teams, business lines, roles, permissions and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from aftersales.accounts import authz, catalog, selectors, services
from aftersales.accounts.models import BusinessLine, Role, RoleGrant, Team, User
from aftersales.accounts.requests import AuthenticatedRequest
from aftersales.api.common import (
    PageOut,
    PreconditionFailed,
    csv_response,
    etag_of,
    expected_version,
)
from aftersales.api.pagination import paginate
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import DomainError

router = Router()

# --- Schemas -----------------------------------------------------------------------------------


class GrantOut(Schema):
    role_id: int
    role_key: str
    role: str
    scope: str


class UserOut(Schema):
    id: int
    username: str
    display_name: str
    email: str
    phone: str
    kind: str
    language: str
    is_active: bool
    has_two_factor: bool
    teams: list[int]
    business_lines: list[int]
    roles: list[GrantOut] | None = Field(None, description="Only with accounts.view_role.")
    version: int


class UserIn(Schema):
    username: str = Field(..., min_length=1, max_length=150)
    password: str | None = Field(None, max_length=128)
    email: str = Field("", max_length=254)
    display_name: str = Field("", max_length=150)
    phone: str = Field("", max_length=32)
    kind: User.Kind = User.Kind.STAFF
    language: str = Field("", max_length=10)
    business_lines: list[int] = []


class UserPatch(Schema):
    email: str | None = Field(None, max_length=254)
    display_name: str | None = Field(None, max_length=150)
    phone: str | None = Field(None, max_length=32)
    language: str | None = Field(None, max_length=10)
    first_name: str | None = Field(None, max_length=150)
    last_name: str | None = Field(None, max_length=150)
    business_lines: list[int] | None = None


class MePatch(Schema):
    language: str | None = Field(None, max_length=10)


class GrantIn(Schema):
    role_id: int
    scope: RoleGrant.Scope


class TeamOut(Schema):
    id: int
    name: str
    business_line_id: int
    description: str
    lead_id: int | None
    is_active: bool
    members: list[int]


class TeamIn(Schema):
    name: str = Field(..., min_length=1, max_length=120)
    business_line_id: int
    description: str = ""
    lead_id: int | None = None
    members: list[int] = []


class TeamPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = None
    lead_id: int | None = None
    is_active: bool | None = None


class MembersIn(Schema):
    members: list[int]


class BusinessLineOut(Schema):
    id: int
    code: str
    name: str
    description: str
    is_active: bool


class BusinessLineIn(Schema):
    code: str = Field(..., min_length=1, max_length=40, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=120)
    description: str = ""


class BusinessLinePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = None
    is_active: bool | None = None


class RoleOut(Schema):
    id: int
    key: str
    name: str
    description: str
    permissions: list[str]
    is_system: bool
    requires_two_factor: bool
    version: int


class RoleIn(Schema):
    key: str = Field(..., min_length=1, max_length=60, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=120)
    description: str = ""
    permissions: list[str] = []
    requires_two_factor: bool = False


class RolePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = None
    permissions: list[str] | None = None
    requires_two_factor: bool | None = None


class RoleCopyIn(Schema):
    key: str = Field(..., min_length=1, max_length=60, pattern=r"^[-a-zA-Z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=120)


class PermissionOut(Schema):
    codename: str
    label: str
    group: str


class TokenOut(Schema):
    id: int
    user_id: int
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class TokenIn(Schema):
    name: str = Field(..., min_length=1, max_length=120)
    user_id: int | None = None
    scopes: list[str] = ["*"]
    expires_at: datetime | None = None


class TokenCreatedOut(TokenOut):
    token: str = Field(..., description="The secret. Shown once; store it now.")


class ListQuery(Schema):
    cursor: str | None = None
    limit: int | None = Field(None, ge=1, le=200)
    q: str | None = Field(None, max_length=100)


class UserListQuery(ListQuery):
    team: int | None = None
    business_line: int | None = None
    kind: User.Kind | None = None
    is_active: bool | None = None


# --- Serialisation ------------------------------------------------------------------------------


def user_out(viewer: Any, user: User) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": user.pk,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "phone": user.phone,
        "kind": user.kind,
        "language": user.language,
        "is_active": user.is_active,
        "has_two_factor": user.has_two_factor,
        "teams": sorted(m.team_id for m in user.team_memberships.all()),
        "business_lines": sorted(b.pk for b in user.business_lines.all()),
        "version": user.version,
        "roles": None,
    }
    if authz.can_read_field(viewer, "accounts.user", "roles"):
        data["roles"] = [
            {"role_id": g.role_id, "role_key": g.role.key, "role": g.role.label, "scope": g.scope}
            for g in user.role_grants.all()
        ]
    return data


def _users(viewer: Any) -> QuerySet[User]:
    return selectors.users_visible_to(viewer).prefetch_related(
        "team_memberships", "business_lines", "role_grants__role"
    )


def team_out(team: Team) -> dict[str, Any]:
    return {
        "id": team.pk,
        "name": team.name,
        "business_line_id": team.business_line_id,
        "description": team.description,
        "lead_id": team.lead_id,
        "is_active": team.is_active,
        "members": sorted(m.user_id for m in team.memberships.all()),
    }


def _changes(payload: Schema, nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields the client sent. ``null`` only clears what may be empty (a team's lead)."""
    changes = payload.dict(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise DomainError(
                "null_not_allowed", field=field, message=_("This field cannot be null.")
            )
    return changes


def _with_etag(response: HttpResponse, version: int) -> None:
    response["ETag"] = etag_of(version)


def _unknown_reference(field: str) -> DomainError:
    return DomainError(
        "unknown_reference",
        field=field,
        message=_("One or more of the referenced objects do not exist."),
    )


def _visible_lines(viewer: Any, ids: list[int]) -> list[BusinessLine]:
    lines = list(selectors.business_lines_visible_to(viewer).filter(pk__in=ids))
    if len(lines) != len(set(ids)):
        raise _unknown_reference("business_lines")
    return lines


def _visible_users(viewer: Any, ids: list[int], field: str) -> list[User]:
    users = list(selectors.users_visible_to(viewer).filter(pk__in=ids))
    if len(users) != len(set(ids)):
        raise _unknown_reference(field)
    return users


# --- Me -------------------------------------------------------------------------------------


@router.get("/me", response=UserOut, tags=["users"], summary="The signed-in user")
def me(request: AuthenticatedRequest) -> dict[str, Any]:
    user = User.objects.prefetch_related(
        "team_memberships", "business_lines", "role_grants__role"
    ).get(pk=request.user.pk)
    viewer = request.user
    return user_out(viewer, user)


@router.patch("/me", response=UserOut, tags=["users"], summary="Change one's own preferences")
def update_me(request: AuthenticatedRequest, payload: MePatch) -> dict[str, Any]:
    if payload.language is not None:
        services.set_language(actor=request.user, language=payload.language)
    return me(request)


# --- Users -------------------------------------------------------------------------------------


@router.get("/users", response=PageOut[UserOut], tags=["users"])
def list_users(request: HttpRequest, filters: Query[UserListQuery]) -> dict[str, Any]:
    users = _users(request.user)
    if filters.q:
        users = users.filter(
            Q(username__icontains=filters.q)
            | Q(display_name__icontains=filters.q)
            | Q(email__icontains=filters.q)
        )
    if filters.team is not None:
        users = users.filter(team_memberships__team_id=filters.team)
    if filters.business_line is not None:
        users = users.filter(business_lines__pk=filters.business_line)
    if filters.kind is not None:
        users = users.filter(kind=filters.kind)
    if filters.is_active is not None:
        users = users.filter(is_active=filters.is_active)
    page = paginate(users, cursor=filters.cursor, limit=filters.limit)
    return {
        "items": [user_out(request.user, u) for u in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get(
    "/users/export", tags=["users"], summary="All visible users as CSV", response={200: None}
)
def export_users(request: HttpRequest) -> HttpResponse:
    authz.require_permission(request.user, "accounts.export_user")
    users = authz.restrict(User.objects.all(), request.user, "accounts.export_user").order_by("pk")
    rows = [
        (u.pk, u.username, u.display_name, u.email, u.phone, u.kind, u.is_active)
        for u in users.iterator()
    ]
    audit.record(
        actor=request.user,
        action=AuditEntry.Action.EXPORTED,
        object_type="accounts.user",
        object_repr="users.csv",
        after={"rows": len(rows)},
    )
    return csv_response(
        "users.csv", ["id", "username", "display_name", "email", "phone", "kind", "is_active"], rows
    )


@router.post("/users", response={201: UserOut}, tags=["users"])
def create_user(request: HttpRequest, payload: UserIn) -> Status[dict[str, Any]]:
    lines = _visible_lines(request.user, payload.business_lines)
    user = services.create_user(
        actor=request.user,
        username=payload.username,
        password=payload.password,
        email=payload.email,
        display_name=payload.display_name,
        phone=payload.phone,
        kind=payload.kind,
        language=payload.language,
        business_lines=lines,
    )
    return Status(201, user_out(request.user, _users(request.user).get(pk=user.pk)))


@router.get("/users/{user_id}", response=UserOut, tags=["users"])
def get_user(request: HttpRequest, user_id: int, response: HttpResponse) -> dict[str, Any]:
    user = get_object_or_404(_users(request.user), pk=user_id)
    _with_etag(response, user.version)
    return user_out(request.user, user)


@router.patch(
    "/users/{user_id}",
    response=UserOut,
    tags=["users"],
    summary="Change a user (send If-Match to refuse stale edits)",
)
def update_user(
    request: HttpRequest, user_id: int, payload: UserPatch, response: HttpResponse
) -> dict[str, Any]:
    user = get_object_or_404(_users(request.user), pk=user_id)
    version = expected_version(request)
    if version is not None and version != user.version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    changes = _changes(payload)
    if "business_lines" in changes:
        changes["business_lines"] = _visible_lines(request.user, changes["business_lines"])
    user = services.update_user(
        actor=request.user, user=user, changes=changes, expected_version=version
    )
    user = _users(request.user).get(pk=user.pk)
    _with_etag(response, user.version)
    return user_out(request.user, user)


@router.post("/users/{user_id}/deactivate", response=UserOut, tags=["users"])
def deactivate_user(request: HttpRequest, user_id: int) -> dict[str, Any]:
    user = get_object_or_404(_users(request.user), pk=user_id)
    services.set_user_active(actor=request.user, user=user, is_active=False)
    return user_out(request.user, _users(request.user).get(pk=user.pk))


@router.post("/users/{user_id}/activate", response=UserOut, tags=["users"])
def activate_user(request: HttpRequest, user_id: int) -> dict[str, Any]:
    user = get_object_or_404(_users(request.user), pk=user_id)
    services.set_user_active(actor=request.user, user=user, is_active=True)
    return user_out(request.user, _users(request.user).get(pk=user.pk))


@router.post(
    "/users/{user_id}/roles",
    response={201: UserOut},
    tags=["users"],
    summary="Grant a role with a data scope",
)
def grant_role(request: HttpRequest, user_id: int, payload: GrantIn) -> Status[dict[str, Any]]:
    user = get_object_or_404(_users(request.user), pk=user_id)
    role = get_object_or_404(Role.objects.all(), pk=payload.role_id)
    services.grant_role(actor=request.user, user=user, role=role, scope=payload.scope)
    return Status(201, user_out(request.user, _users(request.user).get(pk=user.pk)))


@router.delete("/users/{user_id}/roles/{role_id}", response={204: None}, tags=["users"])
def revoke_role(request: HttpRequest, user_id: int, role_id: int) -> Status[None]:
    user = get_object_or_404(_users(request.user), pk=user_id)
    role = get_object_or_404(Role.objects.all(), pk=role_id)
    services.revoke_role(actor=request.user, user=user, role=role)
    return Status(204, None)


# --- Teams -------------------------------------------------------------------------------------


def _teams(viewer: Any) -> QuerySet[Team]:
    return selectors.teams_visible_to(viewer).prefetch_related("memberships")


@router.get("/teams", response=PageOut[TeamOut], tags=["teams"])
def list_teams(request: HttpRequest, filters: Query[ListQuery]) -> dict[str, Any]:
    teams = _teams(request.user)
    if filters.q:
        teams = teams.filter(name__icontains=filters.q)
    page = paginate(teams, cursor=filters.cursor, limit=filters.limit)
    return {"items": [team_out(t) for t in page.items], "next_cursor": page.next_cursor}


@router.post("/teams", response={201: TeamOut}, tags=["teams"])
def create_team(request: HttpRequest, payload: TeamIn) -> Status[dict[str, Any]]:
    line = get_object_or_404(
        selectors.business_lines_visible_to(request.user), pk=payload.business_line_id
    )
    lead = (
        _visible_users(request.user, [payload.lead_id], "lead_id")[0] if payload.lead_id else None
    )
    members = _visible_users(request.user, payload.members, "members")
    team = services.create_team(
        actor=request.user,
        name=payload.name,
        business_line=line,
        lead=lead,
        description=payload.description,
        members=members,
    )
    return Status(201, team_out(Team.objects.prefetch_related("memberships").get(pk=team.pk)))


@router.get("/teams/{team_id}", response=TeamOut, tags=["teams"])
def get_team(request: HttpRequest, team_id: int) -> dict[str, Any]:
    return team_out(get_object_or_404(_teams(request.user), pk=team_id))


@router.patch("/teams/{team_id}", response=TeamOut, tags=["teams"])
def update_team(request: HttpRequest, team_id: int, payload: TeamPatch) -> dict[str, Any]:
    team = get_object_or_404(_teams(request.user), pk=team_id)
    changes = _changes(payload, nullable=frozenset({"lead_id"}))
    if "lead_id" in changes:
        lead_id = changes.pop("lead_id")
        changes["lead"] = _visible_users(request.user, [lead_id], "lead_id")[0] if lead_id else None
    services.update_team(actor=request.user, team=team, changes=changes)
    return team_out(Team.objects.prefetch_related("memberships").get(pk=team.pk))


@router.put("/teams/{team_id}/members", response=TeamOut, tags=["teams"])
def set_members(request: HttpRequest, team_id: int, payload: MembersIn) -> dict[str, Any]:
    team = get_object_or_404(_teams(request.user), pk=team_id)
    members = _visible_users(request.user, payload.members, "members")
    services.set_team_members(actor=request.user, team=team, members=members)
    return team_out(Team.objects.prefetch_related("memberships").get(pk=team.pk))


# --- Business lines -------------------------------------------------------------------------


@router.get("/business-lines", response=PageOut[BusinessLineOut], tags=["business lines"])
def list_business_lines(request: HttpRequest, filters: Query[ListQuery]) -> dict[str, Any]:
    lines = selectors.business_lines_visible_to(request.user)
    if filters.q:
        lines = lines.filter(Q(name__icontains=filters.q) | Q(code__icontains=filters.q))
    page = paginate(lines, cursor=filters.cursor, limit=filters.limit)
    return {"items": list(page.items), "next_cursor": page.next_cursor}


@router.post("/business-lines", response={201: BusinessLineOut}, tags=["business lines"])
def create_business_line(request: HttpRequest, payload: BusinessLineIn) -> Status[BusinessLine]:
    line = services.create_business_line(
        actor=request.user, code=payload.code, name=payload.name, description=payload.description
    )
    return Status(201, line)


@router.get("/business-lines/{line_id}", response=BusinessLineOut, tags=["business lines"])
def get_business_line(request: HttpRequest, line_id: int) -> BusinessLine:
    return get_object_or_404(selectors.business_lines_visible_to(request.user), pk=line_id)


@router.patch("/business-lines/{line_id}", response=BusinessLineOut, tags=["business lines"])
def update_business_line(
    request: HttpRequest, line_id: int, payload: BusinessLinePatch
) -> BusinessLine:
    line = get_object_or_404(selectors.business_lines_visible_to(request.user), pk=line_id)
    return services.update_business_line(actor=request.user, line=line, changes=_changes(payload))


# --- Roles and permissions ---------------------------------------------------------------------


def role_out(role: Role) -> dict[str, Any]:
    return {
        "id": role.pk,
        "key": role.key,
        "name": role.label,
        "description": role.description,
        "permissions": list(role.permissions),
        "is_system": role.is_system,
        "requires_two_factor": role.requires_two_factor,
        "version": role.version,
    }


@router.get(
    "/permissions",
    response=list[PermissionOut],
    tags=["roles"],
    summary="The catalogue of permission codenames",
)
def list_permissions(request: HttpRequest) -> list[dict[str, str]]:
    authz.require_permission(request.user, "accounts.view_role")
    return [
        {"codename": p.codename, "label": str(p.label), "group": str(p.group)}
        for p in catalog.all_permissions().values()
    ]


@router.get("/roles", response=PageOut[RoleOut], tags=["roles"])
def list_roles(request: HttpRequest, filters: Query[ListQuery]) -> dict[str, Any]:
    roles = selectors.roles_visible_to(request.user)
    if filters.q:
        roles = roles.filter(Q(name__icontains=filters.q) | Q(key__icontains=filters.q))
    page = paginate(roles, cursor=filters.cursor, limit=filters.limit)
    return {"items": [role_out(r) for r in page.items], "next_cursor": page.next_cursor}


@router.post("/roles", response={201: RoleOut}, tags=["roles"])
def create_role(request: HttpRequest, payload: RoleIn) -> Status[dict[str, Any]]:
    role = services.create_role(
        actor=request.user,
        key=payload.key,
        name=payload.name,
        description=payload.description,
        permissions=payload.permissions,
        requires_two_factor=payload.requires_two_factor,
    )
    return Status(201, role_out(role))


@router.get("/roles/{role_id}", response=RoleOut, tags=["roles"])
def get_role(request: HttpRequest, role_id: int, response: HttpResponse) -> dict[str, Any]:
    role = get_object_or_404(selectors.roles_visible_to(request.user), pk=role_id)
    _with_etag(response, role.version)
    return role_out(role)


@router.patch("/roles/{role_id}", response=RoleOut, tags=["roles"])
def update_role(
    request: HttpRequest, role_id: int, payload: RolePatch, response: HttpResponse
) -> dict[str, Any]:
    role = get_object_or_404(selectors.roles_visible_to(request.user), pk=role_id)
    version = expected_version(request)
    if version is not None and version != role.version:
        raise PreconditionFailed("version_mismatch", field="If-Match")
    role = services.update_role(
        actor=request.user, role=role, changes=_changes(payload), expected_version=version
    )
    _with_etag(response, role.version)
    return role_out(role)


@router.delete("/roles/{role_id}", response={204: None}, tags=["roles"])
def delete_role(request: HttpRequest, role_id: int) -> Status[None]:
    role = get_object_or_404(selectors.roles_visible_to(request.user), pk=role_id)
    services.delete_role(actor=request.user, role=role)
    return Status(204, None)


@router.post("/roles/{role_id}/copy", response={201: RoleOut}, tags=["roles"])
def copy_role(request: HttpRequest, role_id: int, payload: RoleCopyIn) -> Status[dict[str, Any]]:
    role = get_object_or_404(selectors.roles_visible_to(request.user), pk=role_id)
    copy = services.copy_role(actor=request.user, role=role, key=payload.key, name=payload.name)
    return Status(201, role_out(copy))


# --- Tokens -------------------------------------------------------------------------------------


@router.get("/tokens", response=PageOut[TokenOut], tags=["tokens"])
def list_tokens(request: HttpRequest, filters: Query[ListQuery]) -> dict[str, Any]:
    tokens = selectors.tokens_visible_to(request.user)
    if filters.q:
        tokens = tokens.filter(name__icontains=filters.q)
    page = paginate(tokens, cursor=filters.cursor, limit=filters.limit, descending=True)
    return {"items": list(page.items), "next_cursor": page.next_cursor}


@router.post(
    "/tokens",
    response={201: TokenCreatedOut},
    tags=["tokens"],
    summary="Issue a token (the secret is returned once)",
)
def create_token(request: HttpRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    owner = request.user
    if payload.user_id is not None and payload.user_id != request.user.pk:
        owner = get_object_or_404(selectors.users_visible_to(request.user), pk=payload.user_id)
    issued = services.create_token(
        actor=request.user,
        user=owner,  # type: ignore[arg-type]
        name=payload.name,
        scopes=payload.scopes,
        expires_at=payload.expires_at,
    )
    token = issued.token
    return Status(
        201,
        {
            "id": token.pk,
            "user_id": token.user_id,
            "name": token.name,
            "prefix": token.prefix,
            "scopes": token.scopes,
            "expires_at": token.expires_at,
            "revoked_at": token.revoked_at,
            "last_used_at": token.last_used_at,
            "created_at": token.created_at,
            "token": issued.secret,
        },
    )


@router.delete(
    "/tokens/{token_id}", response={204: None}, tags=["tokens"], summary="Revoke a token"
)
def revoke_token(request: HttpRequest, token_id: int) -> Status[None]:
    token = get_object_or_404(selectors.tokens_visible_to(request.user), pk=token_id)
    services.revoke_token(actor=request.user, token=token)
    return Status(204, None)
