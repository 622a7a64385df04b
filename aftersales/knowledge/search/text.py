"""Turning Chinese, English and model numbers into search terms.

The chosen method (see ``docs/adr/0004-knowledge-search.md``) indexes two things per field:

* **words**: jieba's ``cut_for_search`` tokens (which also emits the sub-words of long words,
  洗衣机 → 洗衣, 洗衣机), with a user dictionary of appliances, faults and parts; English words
  and model numbers lower-cased, a code like ``XQB80-2`` kept whole (``xqb802``) and in parts;
* **raw text** for substring matches (trigrams), which catch what segmentation splits apart
  (印机卡 inside 打印机卡纸) and partial codes.

Single Chinese characters and a few function words are dropped: they match nearly everything.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import cache
from pathlib import Path

import jieba
from pypinyin import Style, lazy_pinyin

USER_DICTIONARY = Path(__file__).with_name("userdict.txt")
STOP_WORDS = frozenset(
    {
        "的", "了", "和", "与", "或", "是", "在", "有", "怎么", "怎么办", "如何", "什么",
        "为什么", "吗", "呢", "请", "及", "a", "an", "the", "of", "to", "and", "or", "is",
        "for", "in", "on", "how", "what", "why", "do", "does", "my",
    }
)  # fmt: skip
_CJK = re.compile(r"[\u3400-\u9fff]")
_CODE = re.compile(r"[a-z0-9]+(?:[-_./][a-z0-9]+)+")
_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]+")


@cache
def _tokenizer() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    jieba.setLogLevel(logging.WARNING)
    tokenizer.initialize()
    tokenizer.load_userdict(str(USER_DICTIONARY))
    return tokenizer


def normalise(text: str) -> str:
    """Full-width to half-width, lower case; the form every field and query is compared in."""
    return unicodedata.normalize("NFKC", text).lower()


def words(text: str) -> list[str]:
    """Search words of ``text`` in order, duplicates kept (they weigh in the ranking)."""
    text = normalise(text)
    result: list[str] = []
    for code in _CODE.findall(text):
        result.append(re.sub(r"[-_./]", "", code))
    for token in _tokenizer().cut_for_search(text):
        token = token.strip()
        if not token or token in STOP_WORDS:
            continue
        if _CJK.match(token):
            if len(token) < 2:
                continue
        elif not _WORD.fullmatch(token):
            continue
        result.append(token)
    return result


def tokens(text: str) -> list[str]:
    """The query's words as jieba's precise mode cuts them (one group of terms each)."""
    result = []
    for token in _tokenizer().cut(normalise(text)):
        token = token.strip()
        if token and token not in STOP_WORDS and _WORD.fullmatch(token):
            result.append(token)
    return result


def bigrams(text: str) -> list[str]:
    """Overlapping two-character grams of each Chinese run plus English words: the n-gram
    method the ADR compares against (no dictionary, every pair is a term)."""
    result: list[str] = []
    for chunk in _WORD.findall(normalise(text)):
        if _CJK.match(chunk):
            if len(chunk) == 1:
                continue
            result.extend(chunk[i : i + 2] for i in range(len(chunk) - 1))
        elif chunk not in STOP_WORDS:
            result.append(chunk)
    return result


def chunks(text: str) -> list[str]:
    """The query as typed, split at spaces and punctuation: the substrings to look for."""
    return [c for c in re.split(r"[\s,，。;；:：!！?？、/]+", normalise(text)) if c]


def initials(text: str) -> str:
    """Pinyin initials of each Chinese word of the title (洗衣机 不排水 → "xyj bps"), so a
    query typed as initials still finds it; cheap (pypinyin's dictionary, no model)."""
    result = []
    for token in _tokenizer().cut(normalise(text)):
        if _CJK.match(token) and len(token) >= 2:
            result.append("".join(lazy_pinyin(token, style=Style.FIRST_LETTER)))
    return " ".join(result)


def is_initials_query(query: str) -> bool:
    letters = query.strip().lower()
    return 2 <= len(letters) <= 12 and letters.isascii() and letters.isalpha()
