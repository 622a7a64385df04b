"""In a real browser (issue #6 item 2): the company's own site, served on another origin,
embeds the web form with its script tag; a visitor fills it in the iframe, attaches a photo,
and sees the success message with the ticket number; the ticket exists on the form's line."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.customers import services as customer_services
from aftersales.customers.models import CustomerTier
from aftersales.customfields import services as customfields
from aftersales.tickets import services as tickets
from aftersales.tickets.models import Attachment, Ticket, form_key_of
from aftersales.webforms import services as webforms
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e

# The smallest PNG there is: one transparent pixel.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class _Site:
    """The company's website: one page holding the form's script tag."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.page = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def company_site() -> Iterator[_Site]:
    site = _Site()
    site.thread.start()
    yield site
    site.server.shutdown()
    site.server.server_close()


def test_visitor_sends_the_embedded_form_and_sees_the_ticket_number(
    live_server: Any,
    transactional_db: None,
    admin_user: User,
    make_line: Callable[..., BusinessLine],
    make_team: Callable[..., Team],
    browser_page: Any,
    company_site: _Site,
) -> None:
    # given: a form for the repair type of "Home appliances", for the hotline team
    if not CustomerTier.objects.filter(is_default=True).exists():
        customer_services.create_tier(
            actor=admin_user, key="normal", name_zh="普通", name_en="Normal", is_default=True
        )
    line = make_line(code="home", name="Home appliances")
    team = make_team(name="Hotline", line=line)
    repair = tickets.create_ticket_type(
        actor=admin_user, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    customfields.create_definition(
        actor=admin_user,
        target="tickets.ticket",
        subtarget=form_key_of(repair.pk),
        key="fault",
        field_type="single_choice",
        label_zh="故障",
        label_en="Fault",
        is_required=True,
        customer_visible=True,
        customer_editable=True,
        config={
            "options": [
                {"key": "e3", "label_zh": "E3", "label_en": "E3 error"},
                {"key": "other", "label_zh": "其他", "label_en": "Something else"},
            ]
        },
    )
    customfields.create_definition(
        actor=admin_user,
        target="tickets.ticket",
        subtarget=form_key_of(repair.pk),
        key="other_fault",
        field_type="text",
        label_zh="其他故障",
        label_en="Describe the fault",
        customer_visible=True,
        customer_editable=True,
        visible_when={"field": "fault", "op": "equals", "value": "other"},
    )
    web_form = webforms.create_web_form(
        actor=admin_user,
        values={
            "name": "Repair request",
            "ticket_type": repair,
            "team": team,
            "allowed_origins": [company_site.origin],
            "success_message_en": "Thank you! An engineer will call you today.",
        },
    )
    company_site.page = (
        "<!doctype html><html><head><title>Shop</title></head><body>"
        "<h1>Contact us</h1>"
        f'<script src="{live_server.url}/forms/{web_form.key}/embed.js" data-lang="en" async>'
        "</script></body></html>"
    )
    page, log = browser_page(locale="en-US", viewport={"width": 390, "height": 844})

    # when: the visitor opens the shop's page and fills in the form inside the iframe
    page.goto(company_site.origin)
    page.wait_for_selector("iframe[data-aftersales-form]")
    form = page.frame_locator("iframe[data-aftersales-form]")
    form.get_by_label("Your name").fill("Wang Fang")
    form.get_by_label("E-mail").fill("wang.fang@example.com")
    form.get_by_label("Subject").fill("Washing machine does not drain")
    form.get_by_label("What happened?").fill("E3 on the display.")
    form.get_by_label("Fault").select_option("other")
    form.get_by_label("Describe the fault").fill("Water stays in the drum")
    form.get_by_label("Photos or videos").set_input_files(
        {"name": "drum.png", "mimeType": "image/png", "buffer": PIXEL}
    )
    # the iframe grew to its content (postMessage from the form, origin-checked by embed.js)
    height = "parseInt(document.querySelector('iframe[data-aftersales-form]').style.height)"
    page.wait_for_function(f"() => {height} !== 640")
    filled_height = page.evaluate(f"() => {height}")
    page.wait_for_timeout((webforms.MIN_FILL_SECONDS + 0.5) * 1000)  # a person types
    form.get_by_test_id("web-form-submit").click()

    # then: the success message and the number, inside the iframe on the shop's page
    done = form.get_by_test_id("web-form-done")
    done.wait_for()
    page.wait_for_function(f"() => {height} < {filled_height}")  # and shrank to the answer
    ticket = Ticket.objects.get()
    assert "Thank you! An engineer will call you today." in done.inner_text()
    assert ticket.number in done.inner_text()
    assert page.url.rstrip("/") == company_site.origin
    assert (ticket.business_line_id, ticket.ticket_type_id, ticket.team_id) == (
        line.pk,
        repair.pk,
        team.pk,
    )
    assert (ticket.channel, ticket.subject) == ("web_form", "Washing machine does not drain")
    assert ticket.custom_fields == {"fault": "other", "other_fault": "Water stays in the drum"}
    assert ticket.requester.name == "Wang Fang"
    assert list(Attachment.objects.filter(ticket=ticket).values_list("filename", flat=True)) == [
        "drum.png"
    ]
    assert log.csp_violations() == []
    assert log.errors() == []
