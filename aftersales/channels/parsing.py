"""Reading a raw e-mail: identity, headers in any charset, bodies, files, and what kind of mail
it is (a person's, an auto-reply, a bounce, a list post).

Parsing is done with the ``compat32`` policy and explicit decoding, because Chinese mail often
declares GB2312 while using GBK characters, or puts raw 8-bit text in headers: every charset
is widened (GB2312/GBK → GB18030) and undecodable bytes are replaced, never fatal. A mail is
unparseable (:class:`MailError`) only when it names no sender address at all.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from aftersales.core import richtext

MAX_HEADER = 300
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_WIDER_CHARSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
}
_KEPT_HEADERS = (
    "Message-ID",
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "Return-Path",
    "X-Autoreply",
    "X-Autorespond",
    "X-Auto-Response-Suppress",
    "Content-Type",
)


class MailError(Exception):
    """The mail cannot become a ticket or a reply (it goes to the quarantine)."""


# --- Identity ---------------------------------------------------------------------------------


def normalise_message_id(value: str | None) -> str:
    """``<local@domain>`` without folding whitespace; "" when there is none."""
    if not value:
        return ""
    text = decode_header(str(value))
    found = _MESSAGE_ID.search(text)
    if found is not None:
        return f"<{found.group(1)}>"[:255]
    text = text.strip()
    return f"<{text}>"[:255] if text and " " not in text else ""


def message_ids(value: str | None) -> list[str]:
    """Every Message-ID named in an ``In-Reply-To`` or ``References`` header, in order."""
    if not value:
        return []
    return [f"<{found}>"[:255] for found in _MESSAGE_ID.findall(decode_header(str(value)))]


def hash_id(raw: bytes) -> str:
    """The stable stand-in for a missing Message-ID: the same bytes give the same id."""
    return f"<{hashlib.sha256(raw).hexdigest()}@sha256.invalid>"


def identity_of(raw: bytes) -> str:
    """The normalised Message-ID of raw mail (its headers only), else the hash of its bytes."""
    headers = email.message_from_bytes(raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0])
    return normalise_message_id(headers.get("Message-ID")) or hash_id(raw)


# --- Charsets ---------------------------------------------------------------------------------


def _codec(charset: str | None) -> str:
    name = (charset or "utf-8").strip().strip('"').lower()
    return _WIDER_CHARSETS.get(name, name)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text of ``data`` in ``charset`` (widened); UTF-8 then GB18030 when the label lies."""
    for candidate in (_codec(charset), "utf-8", "gb18030"):
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def _undo_surrogates(text: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes: decode them as UTF-8 or GB18030."""
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    return decode_bytes(text.encode("ascii", errors="surrogateescape"), "utf-8")


def decode_header(value: Any) -> str:
    """A header as text: RFC 2047 encoded words in any charset, raw UTF-8/GBK, folding undone."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    text = _undo_surrogates(str(value))
    try:
        parts = email.header.decode_header(text)
    except email.errors.HeaderParseError:
        return re.sub(r"\s*\r?\n\s*", " ", text).strip()
    decoded = []
    for part, charset in parts:
        if isinstance(part, bytes):
            decoded.append(decode_bytes(part, charset))
        else:
            decoded.append(part)
    return re.sub(r"\s*\r?\n\s*", " ", "".join(decoded)).strip()


def addresses(value: Any) -> list[tuple[str, str]]:
    """(name, lower-case address) pairs of an address header."""
    if not value:
        return []
    # Split first, decode the names after: a decoded name may hold a comma.
    pairs = email.utils.getaddresses([_undo_surrogates(str(value))])
    return [
        (decode_header(name).strip(), address.strip().lower())
        for name, address in pairs
        if "@" in address
    ]


# --- The parsed mail ---------------------------------------------------------------------------


@dataclass
class MailFile:
    """A file of the mail: an attachment or an inline image (``content_id`` set)."""

    name: str
    content_type: str
    content: bytes
    content_id: str = ""


@dataclass
class ParsedMail:
    message_id: str
    from_address: str
    from_name: str
    subject: str
    to: list[str]
    cc: list[str]
    in_reply_to: list[str]
    references: list[str]
    text: str
    html: str
    files: list[MailFile] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"
    return_path: str | None = None
    message: email.message.Message | None = None

    @property
    def thread_ids(self) -> list[str]:
        """Ids this mail answers, the most recent first (In-Reply-To, then References
        from the end)."""
        ordered = [*self.in_reply_to, *reversed(self.references)]
        return list(dict.fromkeys(ordered))

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def _filename(part: email.message.Message) -> str:
    name = part.get_filename()
    if name:
        return decode_header(name)[:255]
    return ""


def _extension_for(content_type: str) -> str:
    import mimetypes

    return mimetypes.guess_extension(content_type) or ".bin"


def _walk(message: email.message.Message, mail: ParsedMail) -> None:
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        name = _filename(part)
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        is_body = disposition != "attachment" and not name
        if is_body and content_type == "text/plain" and not mail.text:
            mail.text = decode_bytes(data, part.get_content_charset())
            continue
        if is_body and content_type == "text/html" and not mail.html:
            mail.html = decode_bytes(data, part.get_content_charset())
            continue
        if content_type == "message/delivery-status" or not data:
            continue
        content_id = (part.get("Content-ID") or "").strip().strip("<>")
        if not name:
            stem = content_id.split("@")[0] if content_id else f"part-{len(mail.files) + 1}"
            name = re.sub(r"[^\w.\-]", "_", stem)[:100] + _extension_for(content_type)
        mail.files.append(MailFile(name, content_type, data, content_id))


def _raw_header(message: email.message.Message, name: str) -> str | None:
    """A header's first value as received (8-bit bytes kept as surrogate escapes, which
    :func:`decode_header` turns into text), not compat32's lossy ``Header`` object."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return str(value)
    return None


def parse(raw: bytes) -> ParsedMail:
    """The mail's parts, decoded; raises :class:`MailError` when it has no sender address."""
    if not raw.strip():
        raise MailError("The message is empty.")
    message = email.message_from_bytes(raw)
    senders = addresses(_raw_header(message, "From")) or addresses(_raw_header(message, "Sender"))
    if not senders:
        raise MailError("The message names no sender address (From).")
    from_name, from_address = senders[0]
    headers: dict[str, str] = {}
    for name in _KEPT_HEADERS:
        value = _raw_header(message, name)
        if value is not None:
            headers[name.lower()] = decode_header(value)[:2000]
    return_path = _raw_header(message, "Return-Path")
    mail = ParsedMail(
        message_id=normalise_message_id(_raw_header(message, "Message-ID")) or hash_id(raw),
        from_address=from_address,
        from_name=from_name[:200],
        subject=decode_header(_raw_header(message, "Subject"))[:MAX_HEADER],
        to=[a for _n, a in addresses(_raw_header(message, "To"))],
        cc=[a for _n, a in addresses(_raw_header(message, "Cc"))],
        in_reply_to=message_ids(_raw_header(message, "In-Reply-To")),
        references=message_ids(_raw_header(message, "References")),
        text="",
        html="",
        headers=headers,
        content_type=message.get_content_type(),
        return_path=str(return_path).strip() if return_path is not None else None,
        message=message,
    )
    _walk(message, mail)
    return mail


# --- What kind of mail ------------------------------------------------------------------------

PERSON = ""
BOUNCE = "bounce"
AUTO_REPLY = "auto_reply"
BULK = "bulk"
MAILING_LIST = "mailing_list"
OWN_ADDRESS = "own_address"
RATE_LIMITED = "rate_limited"
NO_AUTO_ANSWER = "no_auto_answer"

_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ _-]?(reply|response)|out of (the )?office|自动回复|自動回覆|自动答复)",
    re.IGNORECASE,
)


def kind_of(mail: ParsedMail, own_addresses: set[str]) -> str:
    """Why nobody should answer this mail automatically ("" for a person's mail).

    Checked in this order: our own address (a loop), delivery reports, auto-replies (RFC 3834
    ``Auto-Submitted``, the ``X-Autoreply``/``X-Autorespond`` flags, ``Precedence:
    auto_reply``, the usual subjects), bulk mail, then mailing lists.
    """
    if mail.from_address in own_addresses:
        return OWN_ADDRESS
    return_path = (mail.return_path or "").strip()
    if (
        mail.content_type == "multipart/report"
        or return_path == "<>"
        or _DAEMON.match(mail.from_address)
    ):
        return BOUNCE
    auto_submitted = mail.header("auto-submitted").split(";")[0].strip().lower()
    precedence = mail.header("precedence").strip().lower()
    if (
        (auto_submitted and auto_submitted != "no")
        or mail.header("x-autoreply")
        or mail.header("x-autorespond")
        or precedence == "auto_reply"
        or _AUTO_SUBJECT.match(mail.subject)
    ):
        return AUTO_REPLY
    if precedence in ("bulk", "junk"):
        return BULK
    if mail.header("list-id") or precedence == "list":
        return MAILING_LIST
    return PERSON


def asks_for_no_auto_answer(mail: ParsedMail) -> bool:
    """Whether a person's mail asks not to be answered automatically (Exchange's
    ``X-Auto-Response-Suppress: All``, ``AutoReply`` or ``OOF``)."""
    values = {v.strip().lower() for v in mail.header("x-auto-response-suppress").split(",")}
    return bool(values & {"all", "autoreply", "oof"})


# --- The new part of a reply ------------------------------------------------------------------

_TEXT_CUTS = [
    re.compile(r"^\s*On\b.{0,300}?\bwrote:\s*$", re.MULTILINE | re.DOTALL),
    re.compile(r"^\s*在.{0,200}?写道\s*[:：]\s*$", re.MULTILINE | re.DOTALL),
    re.compile(r"^\s*-{2,}\s*(Original Message|原始邮件|Forwarded message)\s*-{2,}", re.M | re.I),
    re.compile(
        r"^\s*(From|发件人)\s*[:：].*\n(.*\n){0,3}?\s*(Sent|Date|发送时间|日期)\s*[:：]", re.M
    ),
    re.compile(r"^_{20,}\s*$", re.MULTILINE),
    re.compile(r"^-- $", re.MULTILINE),
]
_HTML_CUTS = [
    re.compile(r"<div[^>]*class=\"?[^\">]*(gmail_quote|moz-cite-prefix)", re.IGNORECASE),
    re.compile(r"<div[^>]*id=\"?(divRplyFwdMsg|appendonsend|mail-editor-reference)", re.I),
    re.compile(r"<blockquote", re.IGNORECASE),
    re.compile(r"-{2,}\s*(Original Message|原始邮件)\s*-{2,}", re.IGNORECASE),
    re.compile(r"(<[^>]+>\s*)*On\s[^<]{0,300}?wrote:", re.IGNORECASE),
    re.compile(r"(<[^>]+>\s*)*在[^<]{0,200}?写道\s*[:：]"),
    re.compile(r"(<[^>]+>\s*)*(From|发件人)\s*(</b>)?\s*[:：].{0,600}?(Sent|Date|发送时间)", re.S),
    re.compile(r"<div[^>]*class=\"?[^\">]*signature", re.IGNORECASE),
]


def trim_text(text: str) -> str:
    """The new part of a plain-text reply: up to the first reply header or signature, without
    the quoted (``>``) lines at its end. The whole text when nothing new would remain."""
    cut = len(text)
    for pattern in _TEXT_CUTS:
        found = pattern.search(text)
        if found is not None:
            cut = min(cut, found.start())
    lines = text[:cut].rstrip().splitlines()
    while lines and (lines[-1].lstrip().startswith(">") or not lines[-1].strip()):
        lines.pop()
    trimmed = "\n".join(lines).strip()
    return trimmed or text.strip()


def trim_html(markup: str) -> str:
    """The new part of an HTML reply (cut at the first quote block or reply header)."""
    cut = len(markup)
    for pattern in _HTML_CUTS:
        found = pattern.search(markup)
        if found is not None:
            cut = min(cut, found.start())
    trimmed = markup[:cut]
    if not richtext.to_plain_text(richtext.sanitise(trimmed)).strip():
        return markup
    return trimmed


def _body_of_html(html: str) -> str:
    found = re.search(r"<body[^>]*>(.*)</body>", html, re.IGNORECASE | re.DOTALL)
    inner = found.group(1) if found is not None else html
    return re.sub(r"<(style|script|head)[^>]*>.*?</\1>", "", inner, flags=re.I | re.S)


def display_markup(mail: ParsedMail) -> str:
    """Sanitised HTML of the new part: the HTML body trimmed, else the text trimmed."""
    if mail.html.strip():
        markup = richtext.sanitise(trim_html(_body_of_html(mail.html)))
        if richtext.to_plain_text(markup).strip() or "<img" in markup:
            return markup
    return richtext.from_plain_text(trim_text(mail.text))


def full_markup(mail: ParsedMail) -> str:
    """Sanitised HTML of the whole mail as sent, quotes and signature included."""
    if mail.html.strip():
        return richtext.sanitise(_body_of_html(mail.html))
    return richtext.from_plain_text(mail.text)
