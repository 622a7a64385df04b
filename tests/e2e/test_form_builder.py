"""In a real browser: the custom-field form builder. Dragging a field by its handle puts it in
place and into another section, the order is stored (it survives a reload), and the page runs
under the CSP without errors."""

from __future__ import annotations

from typing import Any

import pytest

from aftersales.customfields import services
from tests.support.browser import sign_in

pytestmark = pytest.mark.e2e

FORM = "[data-testid='form-tickets.ticket-all']"


def _rows(page: Any) -> list[tuple[str, str]]:
    """(key, section) of the active fields as the page shows them."""
    return [
        (row.get_attribute("data-key"), row.evaluate("r => r.parentElement.dataset.section"))
        for row in page.locator(f"{FORM} tr[data-key]").all()
    ]


def _drag(page: Any, key: str, above: str) -> None:
    """Drag the handle of ``key`` onto the upper part of the row ``above`` and drop it there,
    in small steps as a hand would; SortableJS puts it before that row. The pointer rests
    and moves once more at the end: rows still animating ignore the pointer, and the emulated
    drag reports the pointer only when it moves."""
    handle = page.locator(f"{FORM} tr[data-key='{key}'] .drag-handle").bounding_box()
    target = page.locator(f"{FORM} tr[data-key='{above}']").bounding_box()
    x = handle["x"] + handle["width"] / 2
    y = handle["y"] + handle["height"] / 2
    to_y = target["y"] + target["height"] * 0.2
    with page.expect_response(lambda r: r.url.endswith("/settings/fields/reorder/")) as answer:
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x, to_y, steps=20)
        page.wait_for_timeout(400)
        page.mouse.move(x, to_y - 1, steps=2)
        page.wait_for_timeout(100)
        page.mouse.up()
    assert answer.value.status == 200


def test_dragging_fields_reorders_and_moves_sections_and_survives_a_reload(
    live_server: Any, transactional_db: None, admin_user: Any, browser_page: Any
) -> None:
    # given
    for key, section in (
        ("serial", ""),
        ("model", ""),
        ("fault", ""),
        ("photo", "Evidence"),
    ):
        services.create_definition(
            actor=admin_user,
            target="tickets.ticket",
            key=key,
            field_type="text",
            label_zh=key,
            label_en=key.title(),
            section=section,
        )
    page, log = browser_page(locale="en-US")
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/settings/fields/?target=tickets.ticket")
    before = _rows(page)
    # when
    _drag(page, "fault", above="serial")
    page.wait_for_selector(f"{FORM} tr[data-key]:first-child[data-key='fault']")
    _drag(page, "model", above="photo")
    page.wait_for_selector(f"{FORM} tbody[data-section='Evidence'] tr[data-key='model']")
    page.reload()
    after = _rows(page)
    # then
    assert before == [("serial", ""), ("model", ""), ("fault", ""), ("photo", "Evidence")]
    assert after == [("fault", ""), ("serial", ""), ("model", "Evidence"), ("photo", "Evidence")]
    assert [d.key for d in services.definitions_for("tickets.ticket")] == [
        "fault",
        "serial",
        "model",
        "photo",
    ]
    assert log.csp_violations() == []
    assert log.errors() == []
