"""``aftersales fetch_mail``: fetch the mailboxes over IMAP now and process the mail."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aftersales.channels import fetching, intake
from aftersales.channels.models import Mailbox


class Command(BaseCommand):
    help = "Fetch new mail of the active mailboxes (or one) over IMAP and process it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--mailbox", help="Only this mailbox (its address).")

    def handle(self, *args: Any, **options: Any) -> None:
        mailboxes = Mailbox.objects.filter(is_active=True).exclude(imap_host="").order_by("pk")
        if options["mailbox"]:
            mailboxes = mailboxes.filter(address__iexact=options["mailbox"])
            if not mailboxes.exists():
                raise CommandError(f"No active IMAP mailbox {options['mailbox']}.")
        failed = 0
        for mailbox in mailboxes:
            try:
                result = fetching.fetch_mailbox(mailbox)
            except fetching.FetchError as error:
                failed += 1
                self.stderr.write(f"{mailbox.address}: {error}")
                continue
            self.stdout.write(
                f"{mailbox.address}: {result.fetched} fetched, {result.recorded} new, "
                f"{result.processed} processed"
            )
        intake.process_pending()
        if failed:
            raise CommandError(f"{failed} mailbox(es) failed.")
