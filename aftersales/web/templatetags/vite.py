"""``{% vite_assets "frontend/main.js" %}``: the script and stylesheet tags of a Vite entry.

The manifest (``settings.VITE_MANIFEST``) maps the entry to its hashed files. It is read once
and read again only when the file changes, so a rebuild needs no restart. Without a build the
tag writes an HTML comment instead of failing, so that server-side tests run on a fresh clone.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()
logger = logging.getLogger(__name__)

STATIC_PREFIX = "dist/"

_cache: dict[str, Any] = {"path": None, "mtime": None, "manifest": None}


def load_manifest() -> dict[str, Any] | None:
    """The parsed Vite manifest, or None when the front end has not been built."""
    path = Path(settings.VITE_MANIFEST)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    if _cache["path"] != path or _cache["mtime"] != mtime:
        _cache.update(path=path, mtime=mtime, manifest=json.loads(path.read_text("utf-8")))
    return _cache["manifest"]


def _collect_css(manifest: dict[str, Any], key: str, seen: set[str]) -> list[str]:
    chunk = manifest.get(key, {})
    files: list[str] = []
    for imported in chunk.get("imports", []):
        if imported not in seen:
            seen.add(imported)
            files += _collect_css(manifest, imported, seen)
    files += chunk.get("css", [])
    return files


@register.simple_tag
def vite_assets(entry: str) -> SafeString:
    manifest = load_manifest()
    if manifest is None or entry not in manifest:
        logger.warning("Vite manifest or entry %s missing; run `npm ci && npm run build`.", entry)
        return mark_safe(f"<!-- vite: {entry} not built -->")  # noqa: S308 - constant text
    chunk = manifest[entry]
    css = list(dict.fromkeys(_collect_css(manifest, entry, set())))
    links = format_html_join(
        "\n", '<link rel="stylesheet" href="{}">', ((static(STATIC_PREFIX + f),) for f in css)
    )
    script = format_html(
        '<script type="module" src="{}"></script>', static(STATIC_PREFIX + chunk["file"])
    )
    return format_html("{}\n{}", links, script)
