"""Operational endpoints, security headers, settings guards and log format."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from aftersales.accounts import services as accounts
from aftersales.accounts.models import Role
from aftersales.audit.models import AuditEntry
from aftersales.core.logging import JsonFormatter


def test_healthz_answers_without_touching_the_database(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_readyz_reports_database_and_task_backend(client: Client) -> None:
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["tasks"] == {
        **body["checks"]["tasks"],
        "status": "ok",
        "backend": "DatabaseBackend",
    }


@pytest.mark.django_db
def test_metrics_refuse_a_caller_without_token(client: Client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


@pytest.mark.django_db
def test_metrics_accept_the_configured_metrics_token(client: Client, settings) -> None:
    settings.METRICS_TOKEN = "m" * 40
    client.get("/healthz")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 40)
    assert response.status_code == 200
    assert b"aftersales_http_requests_total" in response.content


def test_metrics_accept_an_api_token_with_the_metrics_permission(
    client: Client, make_user, admin_user
) -> None:
    monitor = make_user("monitor")
    role = accounts.create_role(
        actor=admin_user, key="monitoring", name="Monitoring", permissions=["core.view_metrics"]
    )
    accounts.grant_role(actor=admin_user, user=monitor, role=role, scope="all")
    issued = accounts.create_token(actor=monitor, user=monitor, name="prometheus")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code == 200


def test_metrics_refuse_an_api_token_without_the_permission(client: Client, make_user) -> None:
    agent = make_user("plain-agent", role="agent", scope="own")
    issued = accounts.create_token(actor=agent, user=agent, name="nosy")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code == 401


@pytest.mark.django_db
def test_every_response_carries_a_strict_content_security_policy(client: Client) -> None:
    response = client.get("/healthz")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_request_id_from_the_proxy_is_kept(client: Client) -> None:
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc123")
    assert response["X-Request-ID"] == "abc123"


def _run_check(env_overrides: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "AFTERSALES_MODE"}
    }
    env.update({"AFTERSALES_DATA_DIR": str(tmp_path), **env_overrides})
    return subprocess.run(
        [sys.executable, "-m", "aftersales", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = _run_check({"AFTERSALES_MODE": "production", "ALLOWED_HOSTS": "example.com"}, tmp_path)
    assert result.returncode == 2
    assert "SECRET_KEY is required" in result.stderr


def test_production_refuses_to_start_with_debug_on(tmp_path: Path) -> None:
    result = _run_check(
        {
            "AFTERSALES_MODE": "production",
            "ALLOWED_HOSTS": "example.com",
            "SECRET_KEY": "s" * 50,
            "DEBUG": "1",
        },
        tmp_path,
    )
    assert result.returncode == 2
    assert "DEBUG must be off" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts(tmp_path: Path) -> None:
    result = _run_check({"AFTERSALES_MODE": "production", "SECRET_KEY": "s" * 50}, tmp_path)
    assert result.returncode == 2
    assert "ALLOWED_HOSTS is required" in result.stderr


def test_embedded_mode_generates_a_private_secret_key_once(tmp_path: Path) -> None:
    first = _run_check({}, tmp_path)
    key_file = tmp_path / "secret_key"
    key = key_file.read_text()
    second = _run_check({}, tmp_path)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert len(key) >= 50
    assert key_file.read_text() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_json_log_lines_keep_chinese_readable_and_carry_extra_fields() -> None:
    record = logging.LogRecord(
        "aftersales.test", logging.INFO, __file__, 1, "工单 %s 已创建", ("T-1",), None
    )
    record.ticket = "T-1"
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert "工单 T-1 已创建" in line
    assert payload["message"] == "工单 T-1 已创建"
    assert payload["level"] == "info"
    assert payload["ticket"] == "T-1"


def test_role_catalogue_permission_for_metrics_exists(db) -> None:
    accounts.sync_predefined_roles()
    assert "core.view_metrics" in Role.objects.get(key="admin").permissions


def test_audit_ignores_a_forged_real_ip_header_unless_the_proxy_is_trusted(
    client: Client, settings, admin_user
) -> None:
    issued = accounts.create_token(actor=admin_user, user=admin_user, name="ops")
    headers = {
        "HTTP_AUTHORIZATION": f"Bearer {issued.secret}",
        "HTTP_X_REAL_IP": "10.9.9.9",
        "REMOTE_ADDR": "198.51.100.4",
    }
    settings.TRUST_X_REAL_IP = False
    client.post(
        "/api/v1/business-lines",
        {"code": "direct", "name": "Direct"},
        content_type="application/json",
        **headers,
    )
    settings.TRUST_X_REAL_IP = True
    client.post(
        "/api/v1/business-lines",
        {"code": "proxied", "name": "Proxied"},
        content_type="application/json",
        **headers,
    )
    addresses = dict(
        AuditEntry.objects.filter(object_type="accounts.businessline").values_list(
            "object_repr", "ip_address"
        )
    )
    assert addresses == {"Direct": "198.51.100.4", "Proxied": "10.9.9.9"}
