"""Reading mail: identities, charsets, what kind of mail it is, the new part of a reply."""

from __future__ import annotations

import pytest

from aftersales.channels import parsing


def _raw(headers: str, body: str = "Hello") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()


def test_message_id_is_normalised_from_folded_and_padded_headers() -> None:
    assert parsing.identity_of(_raw("From: a@x.com\nMessage-ID:\n  <abc@x.com>  ")) == "<abc@x.com>"
    assert parsing.normalise_message_id("abc@x.com") == "<abc@x.com>"
    assert parsing.message_ids("<a@x> <b@y>\n <c@z>") == ["<a@x>", "<b@y>", "<c@z>"]


@pytest.mark.parametrize(
    ("_case", "header", "expected"),
    [
        ("gb2312-base64", "=?gb2312?B?sNfJq7XEzNKw5Q==?=", "白色的桃板"),
        ("gbk-as-gb2312", "=?gb2312?B?1uzpRrv5?=", "朱镕基"),
        ("gb18030-qp", "=?GB18030?Q?=C4=E3=BA=C3?=", "你好"),
        ("utf8-mixed", "Re: =?utf-8?q?=E7=BB=B4=E4=BF=AE?= request", "Re: 维修 request"),
        ("folded", "=?utf-8?b?5L2g?=\r\n =?utf-8?b?5aW9?=", "你好"),
    ],
)
def test_subjects_decode_in_any_charset(_case: str, header: str, expected: str) -> None:
    assert parsing.decode_header(header) == expected


@pytest.mark.parametrize(
    ("_case", "headers", "kind"),
    [
        ("person", "", parsing.PERSON),
        ("auto-submitted-no", "Auto-Submitted: no", parsing.PERSON),
        ("auto-generated", "Auto-Submitted: auto-generated", parsing.AUTO_REPLY),
        ("auto-replied", "Auto-Submitted: auto-replied; owner-email=a@x.com", parsing.AUTO_REPLY),
        ("x-autoreply", "X-Autoreply: yes", parsing.AUTO_REPLY),
        ("precedence-auto", "Precedence: auto_reply", parsing.AUTO_REPLY),
        ("chinese-subject", "Subject: 自动回复: 您的请求", parsing.AUTO_REPLY),
        ("out-of-office", "Subject: Out of Office: Printer", parsing.AUTO_REPLY),
        ("junk", "Precedence: junk", parsing.BULK),
        ("list-id", "List-Id: <users.example.com>", parsing.MAILING_LIST),
        ("precedence-list", "Precedence: list", parsing.MAILING_LIST),
        ("null-sender", "Return-Path: <>", parsing.BOUNCE),
    ],
)
def test_kind_of_mail(_case: str, headers: str, kind: str) -> None:
    # given
    raw = _raw("From: carol@example.com\nTo: support@example.com\n" + headers)
    # when / then
    assert parsing.kind_of(parsing.parse(raw), {"support@example.com"}) == kind


def test_postmaster_and_own_address() -> None:
    bounce = parsing.parse(_raw("From: postmaster@mx.example.com"))
    own = parsing.parse(_raw("From: Support <SUPPORT@example.com>"))
    assert parsing.kind_of(bounce, set()) == parsing.BOUNCE
    assert parsing.kind_of(own, {"support@example.com"}) == parsing.OWN_ADDRESS


@pytest.mark.parametrize(
    ("_case", "text"),
    [
        ("gmail", "Thanks!\n\nOn Tue, Nov 24, 2026 at 10:00 AM Support <s@x.com> wrote:\n> old\n"),
        (
            "gmail-wrapped",
            "Thanks!\n\nOn Tue, Nov 24, 2026 at 10:00 AM East Support <\ns@x.com> wrote:\n> old\n",
        ),
        ("chinese", "Thanks!\n\n在 2026年11月24日 10:00，售后 <s@x.com> 写道：\n> old\n"),
        ("outlook", "Thanks!\n\n-----Original Message-----\nFrom: s@x.com\nSent: today\nold\n"),
        ("outlook-headers", "Thanks!\n\nFrom: Support <s@x.com>\nSent: Tuesday\nTo: me\nold\n"),
        ("foxmail", "Thanks!\n\n发件人：售后 <s@x.com>\n发送时间：2026年11月24日\nold\n"),
        ("quoted-tail", "Thanks!\n> old\n> older\n"),
        ("signature", "Thanks!\n-- \nCarol, ACME\nold\n"),
    ],
)
def test_quotes_and_signatures_are_trimmed(_case: str, text: str) -> None:
    assert parsing.trim_text(text) == "Thanks!"


def test_text_that_is_all_quote_is_kept_whole() -> None:
    assert parsing.trim_text("> only a quote") == "> only a quote"


def test_html_reply_is_cut_at_the_quote_and_sanitised() -> None:
    # given
    html = (
        '<html><head><style>p{}</style></head><body><div dir="ltr">Fixed, <b>thanks</b>'
        '<script>x()</script></div><div class="gmail_quote">On Mon, S wrote:'
        "<blockquote>old</blockquote></div></body></html>"
    )
    mail = parsing.parse(
        b"From: c@x.com\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + html.encode()
    )
    # when
    shown = parsing.display_markup(mail)
    full = parsing.full_markup(mail)
    # then
    assert shown == '<div dir="ltr">Fixed, <b>thanks</b></div>'.replace(' dir="ltr"', "")
    assert "old" in full
    assert "script" not in full
    assert "p{}" not in full
