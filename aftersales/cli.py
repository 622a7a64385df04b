"""The ``aftersales`` console command: Django's management commands plus our own.

aftersales run                 migrate, demo data on first run, web server + worker
aftersales web                 production web server (gunicorn)
aftersales worker              background worker and periodic scheduler
aftersales demo                load the demo data
aftersales token create NAME   print a new API token for user NAME
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aftersales.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        execute_from_command_line(["aftersales", *arguments])
    except ImproperlyConfigured as error:
        sys.stderr.write(f"aftersales: configuration error: {error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
