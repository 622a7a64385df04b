"""``aftersales ingest_mail --mailbox ADDRESS < message.eml``: take one piped-in mail.

For mail servers that deliver by running a program (Postfix ``pipe``/``mailbox_command``,
Dovecot Sieve ``pipe``, procmail, ``.forward``). The exit status tells the server what to do:
0 accepted (also for a duplicate or a quarantined mail: it is kept and visible), 75
(EX_TEMPFAIL) when the database is unreachable so the server retries, 67 (EX_NOUSER) for an
unknown mailbox.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.db import DatabaseError

from aftersales.channels import intake
from aftersales.channels.models import InboundMessage, Mailbox

EX_NOUSER = 67
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Read one e-mail from standard input and make it a ticket or a reply."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--mailbox", required=True, help="The mailbox address it was sent to.")

    def handle(self, *args: Any, **options: Any) -> None:
        raw = sys.stdin.buffer.read()
        try:
            mailbox = Mailbox.objects.filter(address__iexact=options["mailbox"]).first()
            if mailbox is None:
                self.stderr.write(f"No mailbox {options['mailbox']}.")
                sys.exit(EX_NOUSER)
            row = intake.ingest(mailbox=mailbox, raw=raw, source=InboundMessage.Source.PIPE)
        except DatabaseError as error:
            self.stderr.write(f"Temporary failure: {error}")
            sys.exit(EX_TEMPFAIL)
        self.stdout.write(f"{row.message_id}: {row.state} {row.reason}".strip())
