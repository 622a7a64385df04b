"""Shared fixtures: people with roles and scopes, teams, business lines, API clients."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from aftersales.accounts import services as accounts
from aftersales.accounts.models import BusinessLine, Role, Team, User
from tests.support.browser import browser_page, chromium_browser

__all__ = ["browser_page", "chromium_browser"]

_counter = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"

_AUDIT_TRIGGERS = importlib.import_module("aftersales.audit.migrations.0002_append_only_triggers")


class _TriggerEditor:
    """Just enough of a schema editor for the trigger functions of the audit migration."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)


@pytest.fixture(scope="session", autouse=True)
def audit_log_yields_to_test_flush() -> Iterator[None]:
    """Transactional tests end with a flush (DELETE/TRUNCATE) that the audit log's append-only
    triggers refuse. Only that flush lifts the triggers, and puts them back at once; every test
    body still runs against them."""
    operations = type(connections["default"].ops)
    original = operations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: list[str]) -> None:
        editor = _TriggerEditor(self.connection)
        _AUDIT_TRIGGERS.drop_triggers(None, editor)
        try:
            original(self, sql_list)
        finally:
            _AUDIT_TRIGGERS.create_triggers(None, editor)

    operations.execute_sql_flush = execute_sql_flush
    yield
    operations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _rules_read_afresh() -> Iterator[None]:
    """The rule engine keeps compiled rules per process for a second; a test's rolled-back
    rules must not outlive it."""
    from aftersales.automation import engine

    engine.forget_rules()
    yield
    engine.forget_rules()


@pytest.fixture
def admin_user(db: None) -> User:
    """The installation's first administrator (role admin, scope all)."""
    accounts.sync_predefined_roles()
    return accounts.bootstrap_admin(
        username="root-admin", password=PASSWORD, email="root-admin@example.com"
    )


@pytest.fixture
def make_line(admin_user: User) -> Callable[..., BusinessLine]:
    def make(code: str | None = None, name: str | None = None) -> BusinessLine:
        number = next(_counter)
        return accounts.create_business_line(
            actor=admin_user, code=code or f"line-{number}", name=name or f"Line {number}"
        )

    return make


@pytest.fixture
def make_team(admin_user: User, make_line: Callable[..., BusinessLine]) -> Callable[..., Team]:
    def make(
        name: str | None = None,
        line: BusinessLine | None = None,
        members: list[User] | None = None,
        lead: User | None = None,
    ) -> Team:
        return accounts.create_team(
            actor=admin_user,
            name=name or f"Team {next(_counter)}",
            business_line=line or make_line(),
            members=members or [],
            lead=lead,
        )

    return make


@pytest.fixture
def make_user(admin_user: User) -> Callable[..., User]:
    """make_user(role="agent", scope="teams", teams=[team], lines=[line], kind="staff")."""

    def make(
        username: str | None = None,
        *,
        role: str | None = None,
        scope: str = "all",
        teams: list[Team] | None = None,
        lines: list[BusinessLine] | None = None,
        kind: str = User.Kind.STAFF,
        password: str = PASSWORD,
        **fields: Any,
    ) -> User:
        user = accounts.create_user(
            actor=admin_user,
            username=username or f"user{next(_counter)}",
            password=password,
            kind=kind,
            business_lines=lines or [],
            **fields,
        )
        if role is not None:
            accounts.grant_role(
                actor=admin_user, user=user, role=Role.objects.get(key=role), scope=scope
            )
        for team in teams or []:
            accounts.set_team_members(
                actor=admin_user, team=team, members=[*team.members.all(), user]
            )
        return User.objects.get(pk=user.pk)

    return make


class JsonClient(Client):
    """A test client that sends and reads JSON and can carry a bearer token."""

    def __init__(self, token: str | None = None, **defaults: Any) -> None:
        if token:
            defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        super().__init__(**defaults)

    def post_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.post(
            path, data=data if data is not None else {}, content_type="application/json", **extra
        )

    def patch_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.patch(
            path, data=data if data is not None else {}, content_type="application/json", **extra
        )

    def put_json(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.put(
            path, data=data if data is not None else {}, content_type="application/json", **extra
        )


@pytest.fixture
def api_client() -> JsonClient:
    return JsonClient()


@pytest.fixture
def token_client() -> Callable[..., JsonClient]:
    """token_client(user, scopes=["*"]) → a client authenticated with a fresh bearer token."""

    def make(user: User, scopes: list[str] | None = None) -> JsonClient:
        issued = accounts.create_token(actor=user, user=user, name="test", scopes=scopes or ["*"])
        return JsonClient(token=issued.secret)

    return make


@pytest.fixture
def login_client() -> Callable[[User], JsonClient]:
    """login_client(user) → a client with a signed-in browser session."""

    def make(user: User) -> JsonClient:
        client = JsonClient()
        client.force_login(user)
        return client

    return make
