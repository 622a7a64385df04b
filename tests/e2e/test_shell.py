"""In a real browser: sign in, read the home page in Chinese, switch to English and back,
no CSP violation, and the phone layout hides the navigation behind the menu button."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

WELCOME_ZH = "欢迎，Mei"


def sign_in(page, base_url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")


def test_home_in_chinese_then_english_then_chinese(
    live_server, transactional_db, make_user, make_team, browser_page
):
    # given
    team = make_team(name="Hotline")
    make_user("mei", role="agent", scope="teams", teams=[team], display_name="Mei")
    page, log = browser_page(locale="zh-CN")
    # when
    sign_in(page, live_server.url, "mei")
    chinese = (page.locator("html").get_attribute("lang"), page.locator("h1").inner_text())
    page.get_by_role("button", name="English").click()
    page.wait_for_selector("html[lang=en]")
    english = (
        page.locator("html").get_attribute("lang"),
        page.locator("h1").inner_text(),
        page.get_by_role("heading", name="Your roles").is_visible(),
    )
    page.get_by_role("button", name="简体中文").click()
    page.wait_for_selector("html[lang=zh-Hans]")
    back = (page.locator("html").get_attribute("lang"), page.locator("h1").inner_text())
    # then
    assert chinese == ("zh-Hans", WELCOME_ZH)
    assert english == ("en", "Welcome, Mei", True)
    assert back == ("zh-Hans", WELCOME_ZH)
    assert page.get_by_role("heading", name="您的角色").is_visible()
    assert page.get_by_role("navigation", name="主导航").is_visible()
    assert log.csp_violations() == []
    assert log.errors() == []


def test_phone_layout_opens_the_navigation_from_the_menu_button(
    live_server, transactional_db, make_user, browser_page
):
    # given
    make_user("mei", role="agent", display_name="Mei")
    page, log = browser_page(locale="en-US", viewport={"width": 390, "height": 844})
    sign_in(page, live_server.url, "mei")
    menu = page.get_by_test_id("menu-button")
    navigation = page.locator("#sidenav")
    # when
    hidden_before = navigation.is_hidden()
    menu.click()
    navigation.wait_for(state="visible")
    expanded = menu.get_attribute("aria-expanded")
    navigation.get_by_role("link", name="Users").click()
    page.wait_for_url(f"{live_server.url}/accounts/users/")
    # then
    assert menu.is_visible() is True
    assert hidden_before is True
    assert expanded == "true"
    assert page.locator("h1").inner_text() == "Users"
    assert log.csp_violations() == []
    assert log.errors() == []
