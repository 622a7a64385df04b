"""Playwright fixtures: a headless system Chromium driving the live server.

Registered once for the whole suite by tests/conftest.py, so every browser test shares one
Playwright instance (the sync API allows only one per thread)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test
# itself (fixtures creating users) are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    if not Path(settings.VITE_MANIFEST).exists():
        pytest.fail(
            f"The front end is not built ({settings.VITE_MANIFEST} is missing): "
            "run `npm ci && npm run build` in the repository root first."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ConsoleLog:
    """Console messages of a page; CSP violations show up here as errors."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def record(self, message: Any) -> None:
        self.messages.append(f"{message.type}: {message.text}")

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m]

    def errors(self) -> list[str]:
        return [m for m in self.messages if m.startswith("error:")]


@pytest.fixture
def browser_page(chromium_browser: Any) -> Iterator[Any]:
    """page_factory(locale=..., viewport=...) → (page, console log); closed after the test."""
    contexts: list[Any] = []

    def make(locale: str = "zh-CN", viewport: dict[str, int] | None = None) -> tuple[Any, Any]:
        context = chromium_browser.new_context(
            locale=locale, viewport=viewport or {"width": 1280, "height": 800}
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        log = ConsoleLog()
        page.on("console", log.record)
        page.on("pageerror", lambda error: log.messages.append(f"error: {error}"))
        return page, log

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, base_url: str, username: str, password: str | None = None) -> None:
    """Sign a staff member in through the sign-in page and wait for the home page."""
    from tests.conftest import PASSWORD

    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password or PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")


def after_htmx_swap(page: Any, action: Any) -> None:
    """Do ``action`` and wait until htmx has swapped in what it re-renders (a change made to
    the old elements in between would be replaced with them)."""
    page.evaluate(
        """() => {
            window.swapped = false;
            document.addEventListener("htmx:afterSettle", () => { window.swapped = true; },
                                      { once: true });
        }"""
    )
    action()
    page.wait_for_function("() => window.swapped === true")
