"""``aftersales check_translations``: every string has a Chinese translation, compiled.

Fails (exit 1, with the untranslated strings listed) when a message in the zh-Hans catalogue
is empty or fuzzy, or when the compiled ``.mo`` is older than the ``.po``. With ``--extract``
it first runs ``makemessages`` (needs GNU gettext) so new strings in code count too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

CATALOGUES = ("django.po", "djangojs.po")


class Command(BaseCommand):
    help = "Check that the zh-Hans catalogue is complete and compiled."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--extract",
            action="store_true",
            help="Extract messages from the code first (needs GNU gettext).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        import polib

        locale_dir = Path(settings.LOCALE_PATHS[0])
        catalogue_dir = locale_dir / "zh_Hans" / "LC_MESSAGES"
        if options["extract"]:
            self._extract_into_copy(catalogue_dir)
            return
        problems: list[str] = []
        for name in CATALOGUES:
            po_path = catalogue_dir / name
            if not po_path.exists():
                if name == "django.po":
                    problems.append(f"{po_path} is missing.")
                continue
            problems += self._check(po_path, polib)
        if problems:
            raise CommandError("Translations are incomplete:\n  " + "\n  ".join(problems[:50]))
        self.stdout.write("Translations complete.")

    def _check(self, po_path: Path, polib: Any) -> list[str]:
        problems: list[str] = []
        catalogue = polib.pofile(str(po_path))
        for entry in catalogue:
            if entry.obsolete:
                continue
            if "fuzzy" in entry.flags:
                problems.append(f"fuzzy: {entry.msgid!r}")
            elif entry.msgid_plural:
                if not all(entry.msgstr_plural.values()):
                    problems.append(f"untranslated: {entry.msgid!r}")
            elif not entry.msgstr:
                problems.append(f"untranslated: {entry.msgid!r}")
        mo_path = po_path.with_suffix(".mo")
        if not mo_path.exists():
            problems.append(f"{mo_path.name} is missing: run 'aftersales compilemessages'.")
        else:
            compiled = {(e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(mo_path))}
            for entry in catalogue.translated_entries():
                if entry.msgid_plural:
                    continue
                if compiled.get((entry.msgctxt, entry.msgid)) != entry.msgstr:
                    problems.append(
                        f"{mo_path.name} is out of date ({entry.msgid!r}): "
                        "run 'aftersales compilemessages'."
                    )
                    break
        return problems

    def _extract_into_copy(self, catalogue_dir: Path) -> None:
        """Run makemessages on a copy of the package so the working tree is not touched."""
        if shutil.which("xgettext") is None:
            raise CommandError("GNU gettext (xgettext) is needed for --extract.")
        package = Path(settings.BASE_DIR)
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / "aftersales"
            shutil.copytree(
                package, copy, ignore=shutil.ignore_patterns("static", "__pycache__", "*.mo")
            )
            cwd = os.getcwd()
            os.chdir(copy)
            try:
                call_command(
                    "makemessages",
                    locale=["zh_Hans"],
                    verbosity=0,
                    ignore_patterns=["migrations/*"],
                    no_obsolete=True,
                )
            finally:
                os.chdir(cwd)
            import polib

            extracted = polib.pofile(str(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
            missing = [
                e.msgid
                for e in extracted
                if not e.obsolete and ((not e.msgstr and not e.msgstr_plural) or "fuzzy" in e.flags)
            ]
        if missing:
            raise CommandError(
                "Strings in the code lack a Chinese translation "
                "(run makemessages and translate):\n  " + "\n  ".join(repr(m) for m in missing[:50])
            )
        self.stdout.write("Every string in the code has a Chinese translation.")
