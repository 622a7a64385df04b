"""Rich text from people: sanitised HTML for display, plain text for search and previews.

Everything a person or a channel sends passes :func:`sanitise` before it is stored, so a page
can render stored HTML as safe. Only formatting tags survive; scripts, event handlers, styles,
``javascript:`` links and remote forms are removed, and links open without a referrer.
"""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "hr",
    "i", "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "span": {"data-mention"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel"}
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|div|li|h[1-4]|tr|blockquote|pre)>|<br\s*/?>", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")
_LOOKS_LIKE_HTML = re.compile(r"<(p|div|br|b|i|a|ul|ol|li|strong|em|span|img|table)\b", re.I)


def sanitise(markup: str) -> str:
    """Keep formatting, drop anything that could run or track; safe to render as is."""
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def from_plain_text(text: str) -> str:
    """HTML for text typed without markup: escaped, paragraphs and line breaks kept."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(
        "<p>" + html.escape(paragraph).replace("\n", "<br>") + "</p>" for paragraph in paragraphs
    )


def clean_input(text: str) -> str:
    """Sanitised HTML for either HTML or plain text input (decided by the content)."""
    if _LOOKS_LIKE_HTML.search(text):
        return sanitise(text)
    return from_plain_text(text)


def to_plain_text(markup: str) -> str:
    """The words of sanitised HTML, one line per block, for search, previews and e-mail."""
    text = _BLOCK_END.sub("\n", markup)
    text = html.unescape(_TAG.sub("", text))
    lines = [line.strip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
