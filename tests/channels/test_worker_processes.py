"""A real ``aftersales fetch_mail`` process killed mid-batch loses and duplicates nothing.

The process shares this test's database and a real Dovecot, so it commits for real
(``transaction=True``).
"""

from __future__ import annotations

import smtplib
import subprocess
import sys
from collections.abc import Callable

import pytest

from aftersales.channels.models import InboundMessage, Mailbox
from aftersales.tickets.models import Ticket
from tests.channels.conftest import Dovecot, mail
from tests.support import processes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BATCH = 40


def test_fetch_worker_killed_mid_batch_makes_exactly_one_ticket_per_mail(
    imap: Dovecot, imap_mailbox: Mailbox
) -> None:
    """SIGKILL while the batch is being processed: the next run finishes it, and every mail
    is exactly one ticket; the server shows them all read."""
    # given
    for n in range(BATCH):
        imap.append("support", mail(subject=f"Broken {n}", message_id=f"<kill-{n}@client>"))
    env = processes.process_env()
    args = ["fetch_mail", "--mailbox", imap_mailbox.address]
    done = InboundMessage.objects.exclude(state=InboundMessage.State.RECEIVED)

    # when
    first = processes.start(args, env)
    try:
        processes.wait_for(
            lambda: done.count() >= 1, timeout=60, interval=0.02, what="processing to begin"
        )
        first.kill()
        first.wait(timeout=10)
    finally:
        output = processes.stop(first)
    processed_before = done.count()
    second = subprocess.run(
        [sys.executable, "-m", "aftersales", *args],
        cwd=processes.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then
    assert processed_before < BATCH, f"the first worker finished before the kill\n{output}"
    assert second.returncode == 0, second.stdout + second.stderr
    assert InboundMessage.objects.count() == BATCH
    assert done.filter(state=InboundMessage.State.TICKET_CREATED).count() == BATCH
    assert Ticket.objects.count() == BATCH
    subjects = sorted(Ticket.objects.values_list("subject", flat=True))
    assert subjects == sorted(f"Broken {n}" for n in range(BATCH))
    assert imap.count("support", criteria="UNSEEN") == 0


def test_piped_mail_is_accepted_once(make_mailbox: Callable[..., Mailbox], imap: Dovecot) -> None:
    """``aftersales ingest_mail`` reads the mail from standard input; the same mail piped
    twice (the MTA retried after a timeout) is one ticket."""
    # given
    make_mailbox()
    raw = mail(message_id="<piped@client>")
    env = processes.process_env()

    # when
    runs = [
        subprocess.run(
            [sys.executable, "-m", "aftersales", "ingest_mail", "--mailbox", "support@example.com"],
            cwd=processes.REPO_ROOT,
            env=env,
            input=raw,
            capture_output=True,
            timeout=60,
            check=False,
        )
        for _ in range(2)
    ]

    # then
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert runs[0].stdout.decode().strip() == "<piped@client>: ticket_created"
    assert Ticket.objects.count() == 1


def test_mail_server_delivers_by_lmtp_with_an_answer_per_recipient(
    make_mailbox: Callable[..., Mailbox], imap: Dovecot
) -> None:
    """A real ``aftersales lmtp_server`` process, spoken to with Python's LMTP client: the
    mailbox accepts (after the commit), an unknown address is refused, a bounce sent with the
    null sender is recognised as one, and a redelivery is one ticket."""
    # given
    make_mailbox()
    port = processes.free_port()
    server = processes.start(
        ["lmtp_server", "--bind", f"127.0.0.1:{port}"], processes.process_env()
    )
    try:

        def listening() -> bool:
            try:
                smtplib.LMTP("127.0.0.1", port, timeout=5).quit()
            except OSError:
                return False
            return True

        processes.wait_for(listening, timeout=30, what="the LMTP server to listen")
        raw = mail(message_id="<lmtp@client>")
        bounce = mail(
            sender="Mail Delivery <bounces@mx.example.com>",
            subject="Undeliverable",
            message_id="<bounce@mx>",
        )
        # when
        with smtplib.LMTP("127.0.0.1", port, timeout=10) as client:
            refused = client.sendmail(
                "carol@example.com", ["support@example.com", "nobody@example.com"], raw
            )
            again = client.sendmail("carol@example.com", ["support@example.com"], raw)
            client.sendmail("", ["support@example.com"], bounce)
        processes.wait_for(
            lambda: (
                not InboundMessage.objects.filter(state="received").exists()
                and InboundMessage.objects.count() == 2
            ),
            timeout=30,
            what="the mail to be processed",
        )
    finally:
        output = processes.stop(server)

    # then
    assert refused == {"nobody@example.com": (550, b"5.1.1 No such mailbox here")}, output
    assert again == {}
    assert Ticket.objects.count() == 1
    rows = dict(InboundMessage.objects.values_list("message_id", "state"))
    assert rows == {"<lmtp@client>": "ticket_created", "<bounce@mx>": "ignored"}
    assert InboundMessage.objects.get(message_id="<bounce@mx>").reason == "bounce"
