"""A real ``aftersales fetch_mail`` process killed mid-batch loses and duplicates nothing.

The process shares this test's database and a real Dovecot, so it commits for real
(``transaction=True``).
"""

from __future__ import annotations

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
