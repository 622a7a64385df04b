"""E-mail intake throughput on PostgreSQL: raw mail → recorded row → ticket or reply.

    .venv/bin/python bench/email_intake.py [--mails 300] [--rounds 3]

A throwaway database gets one business line, ticket type and pipe-only mailbox. Each round
pipes ``--mails`` mails through :func:`aftersales.channels.intake.ingest` in one process (what
``aftersales ingest_mail`` and the IMAP fetch do per message): a third are replies by the
same customers on their tickets (matched by In-Reply-To), a third new tickets from known
customers, a third new tickets from new senders, each with a quoted HTML part and a 20 kB
attachment. Then the same mails are piped again (the duplicate check, nothing written).
Figures: mails per second and the per-mail latency p50/p95, as medians over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from email.message import EmailMessage

from _common import configure_django, summary, temp_dir, throwaway_database


def _mail(n: int, round_no: int, sender: str, reply_to: str | None) -> bytes:
    message = EmailMessage()
    message["From"] = f"Customer {n} <{sender}>"
    message["To"] = "service@bench.example.com"
    message["Subject"] = f"洗衣机 E3 不排水 #{round_no}-{n}"
    message["Message-ID"] = f"<bench-{round_no}-{n}@client.example.com>"
    if reply_to:
        message["In-Reply-To"] = reply_to
    message.set_content("The washer stops with E3.\n\nOn Mon, Service wrote:\n> old text\n")
    message.add_alternative(
        "<div>The washer stops with <b>E3</b>.</div><div class='gmail_quote'>On Mon, Service "
        "wrote:<blockquote>old text</blockquote></div>",
        subtype="html",
    )
    message.add_attachment(
        b"\x89PNG" + bytes(20_000), maintype="image", subtype="png", filename="照片.png"
    )
    return bytes(message)


def bench(mails: int, rounds: int) -> None:
    from aftersales.accounts import services as accounts
    from aftersales.accounts.models import User
    from aftersales.channels import intake
    from aftersales.channels import services as channels
    from aftersales.tickets import services as tickets

    admin = User.objects.create_superuser("bench-admin", "admin@bench.example.com", "x")
    line = accounts.create_business_line(actor=admin, code="bench", name="Bench")
    ticket_type = tickets.create_ticket_type(
        actor=admin, business_line=line, key="repair", name_zh="维修", name_en="Repair"
    )
    mailbox = channels.create_mailbox(
        actor=admin,
        address="service@bench.example.com",
        business_line=line,
        ticket_type=ticket_type,
        auto_answer_limit=10000,
    )
    # Customers and tickets the replies and "known customer" mails refer to.
    for n in range(mails):
        intake.ingest(mailbox=mailbox, raw=_mail(n, 0, f"c{n}@client.example.com", None))
    rates, p50s, p95s, duplicates = [], [], [], []
    for round_no in range(1, rounds + 1):
        batch = []
        for n in range(mails):
            kind = n % 3
            if kind == 0:
                batch.append(
                    _mail(
                        n, round_no, f"c{n}@client.example.com", f"<bench-0-{n}@client.example.com>"
                    )
                )
            elif kind == 1:
                batch.append(_mail(n, round_no, f"c{n}@client.example.com", None))
            else:
                batch.append(_mail(n, round_no, f"new{round_no}-{n}@client.example.com", None))
        latencies = []
        started = time.perf_counter()
        for raw in batch:
            one = time.perf_counter()
            intake.ingest(mailbox=mailbox, raw=raw)
            latencies.append(1000 * (time.perf_counter() - one))
        elapsed = time.perf_counter() - started
        rates.append(mails / elapsed)
        p50s.append(statistics.median(latencies))
        p95s.append(statistics.quantiles(latencies, n=20)[18])
        started = time.perf_counter()
        for raw in batch:
            intake.ingest(mailbox=mailbox, raw=raw)
        duplicates.append(mails / (time.perf_counter() - started))
    print(f"mails per round: {mails} (1/3 replies, 1/3 known senders, 1/3 new senders)")
    print(f"intake, mails/s: {summary(rates)}")
    print(f"per mail p50 ms: {summary(p50s, 1)}")
    print(f"per mail p95 ms: {summary(p95s, 1)}")
    print(f"duplicates, mails/s: {summary(duplicates)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with temp_dir("aftersales-bench-") as data_dir, throwaway_database("as_bench_email") as url:
        configure_django(url, data_dir)
        bench(options.mails, options.rounds)


if __name__ == "__main__":
    main()
