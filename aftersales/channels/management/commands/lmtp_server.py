"""``aftersales lmtp_server --bind 127.0.0.1:2424``: accept mail from a mail server by LMTP."""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersales.channels.lmtp import LmtpServer


class Command(BaseCommand):
    help = "Listen for LMTP deliveries to the mailboxes (see docs/channels-email.md)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--bind", default="127.0.0.1:2424", help="host:port to listen on (a private one)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, _sep, port = options["bind"].rpartition(":")
        if not host or not port.isdigit():
            raise CommandError("--bind takes host:port, e.g. 127.0.0.1:2424")
        server = LmtpServer((host, int(port)))

        def stop(signum: int, frame: object) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"LMTP listening on {host}:{server.server_address[1]}")
        try:
            server.serve_forever(poll_interval=0.5)
        finally:
            server.server_close()
