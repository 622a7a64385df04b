"""How fast the agent inbox answers on 1,000,000 tickets: "my teams' open tickets", with and
without a custom-field filter, first page and page 200. Target: p95 under 50 ms.

    .venv/bin/python bench/tickets_inbox.py [--samples 200] [--limit 25] [--explain]
                                            [--reload] [--drop] [--database as_bench]

The first run loads the data set into its own database (``as_bench`` on ``BENCH_PG``) and keeps
it, so later runs start measuring at once; ``--reload`` loads it again, ``--drop`` drops the
database at the end. Loading takes a few minutes: the configuration (business lines, teams,
agents with roles, ticket types with their statuses, custom-field definitions) goes through
the real services; 200,000 customers, 1,000,000 tickets and their tag rows go in by COPY with
the secondary indexes dropped and rebuilt, then VACUUM ANALYZE.

Each sample runs the inbox as a request would: the viewer's grants and teams are read afresh,
then ``selectors.tickets_visible_to`` + ``filtering.clean_filters``/``apply_filters`` +
``api.pagination.paginate`` (``-updated_at``, keyset). Samples rotate over several agents at
scope "my teams" and several field values; page 200 is reached by following the cursors once,
then timed. Figures are p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import string
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from _common import SERVER, _admin_connection, configure_django, temp_dir

SIGNATURE = {"generator": 1, "tickets": 1_000_000, "customers": 200_000}
SEED = 20261124
PAGE_DEPTH = 200
UNSOLVED = ["new", "open", "pending_customer", "pending_internal"]

LINES = [
    ("home", "家用电器", "Home appliances", 0.5),
    ("biz", "商用设备", "Commercial equipment", 0.3),
    ("ind", "工业设备", "Industrial equipment", 0.2),
]
TYPES = [
    ("repair", "维修", "Repair", 0.55),
    ("consult", "咨询", "Consultation", 0.30),
    ("complaint", "投诉", "Complaint", 0.15),
]
TEAMS_PER_LINE = 10
AGENTS = 300
# Status categories of a desk that keeps up: most tickets closed, ~13 % not solved yet.
CATEGORIES = {
    "closed": 0.79,
    "solved": 0.08,
    "new": 0.02,
    "open": 0.06,
    "pending_customer": 0.025,
    "pending_internal": 0.025,
}
CHANNELS = {"email": 30, "phone": 25, "web": 15, "wechat": 15, "portal": 10, "api": 5}
PRIORITIES = {1: 15, 2: 60, 3: 20, 4: 5}
TAGS = [
    "vip", "warranty", "out-of-warranty", "escalated", "repeat", "social-media", "installation",
    "refund", "follow-up", "part-ordered", "onsite", "callback", "complaint-risk", "b2b", "media",
]  # fmt: skip
SERIES = ["ac", "fr", "wm", "dw", "ov"]
SERIES_NAMES = {
    "ac": ("空调", "air conditioner"),
    "fr": ("冰箱", "refrigerator"),
    "wm": ("洗衣机", "washing machine"),
    "dw": ("洗碗机", "dishwasher"),
    "ov": ("烤箱", "oven"),
}
REGIONS = {
    "east": ("华东", "East", 35, ["sh", "js", "zj", "ah", "fj", "jx", "sd"]),
    "south": ("华南", "South", 20, ["gd", "gx", "hi"]),
    "north": ("华北", "North", 12, ["bj", "tj", "he", "sx", "nm"]),
    "central": ("华中", "Central", 13, ["ha", "hb", "hn"]),
    "southwest": ("西南", "Southwest", 10, ["cq", "sc", "gz", "yn", "xz"]),
    "northeast": ("东北", "Northeast", 5, ["ln", "jl", "hl"]),
    "northwest": ("西北", "Northwest", 5, ["sn", "gs", "qh", "nx", "xj"]),
}
FAULTS = {
    "elec": ("电气故障", "Electrical", ["e01", "e02", "e03", "e04", "e05", "e06"]),
    "mech": ("机械故障", "Mechanical", ["m01", "m02", "m03", "m04", "m05"]),
    "cool": ("制冷故障", "Cooling", ["c01", "c02", "c03", "c04", "c05", "c06", "c07"]),
    "ctrl": ("控制板", "Control board", ["b01", "b02", "b03", "b04"]),
    "leak": ("漏水", "Leak", ["l01", "l02", "l03"]),
    "noise": ("噪音", "Noise", ["n01", "n02", "n03", "n04"]),
    "other": ("其他", "Other", ["o01"]),
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉斌宇浩凯健俊帆"
COMPLAINTS = [
    "开机后没有反应，指示灯不亮",
    "运行时噪音很大，像是有东西在摩擦",
    "制冷效果变差，出风口温度偏高",
    "底部漏水，地面有积水",
    "显示屏报错代码，重启后仍然出现",
    "门关不严，密封条可能老化",
    "遥控器无法控制，换了电池也不行",
    "安装后试机，发现外机震动明显",
]


def zipf_weights(count: int, exponent: float) -> list[float]:
    raw = [1 / (rank**exponent) for rank in range(1, count + 1)]
    total = sum(raw)
    return [value / total for value in raw]


MODELS = [f"{SERIES[n % len(SERIES)]}-{100 + 10 * n}" for n in range(50)]
MODEL_WEIGHTS = zipf_weights(len(MODELS), 0.8)


# --- The database ---------------------------------------------------------------------------


def ensure_database(name: str, *, reload: bool) -> tuple[str, bool]:
    """The URL of database NAME, created (or with ``reload`` recreated) when needed; the flag
    says it is new."""
    with _admin_connection() as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reload:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    return f"{SERVER}/{name}", not exists


def drop_database(name: str) -> None:
    from django.db import connections

    connections.close_all()
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def loaded_signature() -> dict[str, Any] | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_dataset')")
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute("SELECT description FROM bench_dataset WHERE name = 'tickets'")
        row = cursor.fetchone()
    if row is None:
        return None
    value = row[0]
    return json.loads(value) if isinstance(value, str) else value


def raw_connection():  # type: ignore[no-untyped-def]
    """A psycopg connection of its own (COPY, VACUUM, DDL), outside Django's transaction."""
    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    )


# --- Configuration through the services ------------------------------------------------------


@dataclass
class Desk:
    """What the generator needs to know about the configuration rows."""

    admin: Any
    lines: list[Any] = field(default_factory=list)
    line_weights: list[float] = field(default_factory=list)
    teams: dict[int, list[Any]] = field(default_factory=dict)  # line id → teams
    team_weights: dict[int, list[float]] = field(default_factory=dict)
    members: dict[int, list[int]] = field(default_factory=dict)  # team id → user ids
    types: dict[int, list[Any]] = field(default_factory=dict)  # line id → ticket types
    statuses: dict[int, dict[str, list[int]]] = field(default_factory=dict)  # type → cat → ids
    prefixes: dict[int, str] = field(default_factory=dict)  # type id → number prefix


def configure_desk() -> Desk:
    from aftersales.accounts import services as accounts
    from aftersales.accounts.models import Role, User
    from aftersales.customfields import services as customfields
    from aftersales.tickets import services as tickets
    from aftersales.tickets.models import form_key_of

    rng = random.Random(SEED)
    accounts.sync_predefined_roles()
    admin = accounts.bootstrap_admin(
        username="bench-admin", password="".join(rng.choices(string.ascii_letters, k=32))
    )
    desk = Desk(admin=admin)
    agent_role = Role.objects.get(key="agent")
    manager_role = Role.objects.get(key="service-manager")
    team_weights = zipf_weights(TEAMS_PER_LINE, 0.7)
    # Agents per team in proportion to the team's share of its line's tickets (at least 4).
    line_share = [weight for *_, weight in LINES]
    shares = [ls * tw for ls in line_share for tw in team_weights]
    per_team = [max(4, round(AGENTS * share)) for share in shares]
    agent_number = 0
    for index, (code, name_zh, name_en, weight) in enumerate(LINES):
        line = accounts.create_business_line(actor=admin, code=code, name=f"{name_zh} {name_en}")
        desk.lines.append(line)
        desk.line_weights.append(weight)
        desk.teams[line.pk] = []
        desk.team_weights[line.pk] = team_weights
        for number in range(TEAMS_PER_LINE):
            people = []
            for _ in range(per_team[index * TEAMS_PER_LINE + number]):
                agent_number += 1
                user = accounts.create_user(
                    actor=admin,
                    username=f"agent{agent_number:03d}",
                    display_name=f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}",
                    business_lines=[line],
                )
                accounts.grant_role(actor=admin, user=user, role=agent_role, scope="teams")
                people.append(user)
            team = accounts.create_team(
                actor=admin,
                name=f"{name_en} team {number + 1}",
                business_line=line,
                lead=people[0],
                members=people,
            )
            desk.teams[line.pk].append(team)
            desk.members[team.pk] = [person.pk for person in people]
        manager = accounts.create_user(
            actor=admin, username=f"manager-{code}", business_lines=[line]
        )
        accounts.grant_role(actor=admin, user=manager, role=manager_role, scope="business_lines")
        # A quarter of the agents also work in a second team of their line.
        teams = desk.teams[line.pk]
        for team in teams:
            for user_id in list(desk.members[team.pk]):
                if rng.random() < 0.25:
                    other = rng.choice([t for t in teams if t.pk != team.pk])
                    if user_id not in desk.members[other.pk]:
                        desk.members[other.pk].append(user_id)
        for team in teams:
            accounts.set_team_members(
                actor=admin, team=team, members=User.objects.filter(pk__in=desk.members[team.pk])
            )
        desk.types[line.pk] = []
        for position, (key, type_zh, type_en, _) in enumerate(TYPES):
            prefix = f"{code[0].upper()}{key[0].upper()}"
            ticket_type = tickets.create_ticket_type(
                actor=admin,
                business_line=line,
                key=key,
                name_zh=type_zh,
                name_en=type_en,
                number_prefix=prefix,
                position=position,
            )
            if key == "repair":
                for status_key, status_zh, status_en, category in (
                    ("in_repair", "维修中", "In repair", "open"),
                    ("waiting_part", "等待备件", "Waiting for spare part", "pending_internal"),
                    ("waiting_visit", "等待上门", "Waiting for visit", "pending_internal"),
                ):
                    tickets.add_status(
                        actor=admin,
                        ticket_type=ticket_type,
                        key=status_key,
                        name_zh=status_zh,
                        name_en=status_en,
                        category=category,
                    )
                for field_key, field_type, label_zh, label_en, config in (
                    ("fault", "cascade", "故障代码", "Fault code", _fault_config()),
                    ("purchase_date", "date", "购买日期", "Purchase date", {}),
                ):
                    customfields.create_definition(
                        actor=admin,
                        target="tickets.ticket",
                        subtarget=form_key_of(ticket_type.pk),
                        key=field_key,
                        field_type=field_type,
                        label_zh=label_zh,
                        label_en=label_en,
                        config=config,
                    )
            desk.types[line.pk].append(ticket_type)
            desk.prefixes[ticket_type.pk] = prefix
            by_category: dict[str, list[int]] = defaultdict(list)
            for status in ticket_type.statuses.all():
                by_category[status.category].append(status.pk)
            desk.statuses[ticket_type.pk] = dict(by_category)
    for field_key, field_type, label_zh, label_en, config in (
        ("model", "single_choice", "产品型号", "Product model", _model_config()),
        ("region", "cascade", "地区", "Region", _region_config()),
        ("serial", "text", "序列号", "Serial number", {"pattern": "[A-Z0-9-]{6,30}"}),
    ):
        customfields.create_definition(
            actor=admin,
            target="tickets.ticket",
            key=field_key,
            field_type=field_type,
            label_zh=label_zh,
            label_en=label_en,
            config=config,
        )
    return desk


def _model_config() -> dict[str, Any]:
    options = []
    for key in MODELS:
        series, number = key.split("-")
        zh, en = SERIES_NAMES[series]
        options.append({"key": key, "label_zh": f"{zh} {number}", "label_en": f"{en} {number}"})
    return {"options": options}


def _region_config() -> dict[str, Any]:
    return {
        "options": [
            {
                "key": key,
                "label_zh": zh,
                "label_en": en,
                "children": [{"key": p, "label_en": p.upper()} for p in provinces],
            }
            for key, (zh, en, _, provinces) in REGIONS.items()
        ]
    }


def _fault_config() -> dict[str, Any]:
    return {
        "options": [
            {
                "key": key,
                "label_zh": zh,
                "label_en": en,
                "children": [{"key": code, "label_en": code.upper()} for code in codes],
            }
            for key, (zh, en, codes) in FAULTS.items()
        ]
    }


# --- Bulk rows --------------------------------------------------------------------------------


def _copy(connection: Any, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _secondary_indexes(connection: Any, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that back no constraint."""
    return connection.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = %s AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        [table],
    ).fetchall()


def customer_rows(desk: Desk, count: int, now: datetime) -> tuple[list[list[int]], Iterator]:
    """Customers spread over the lines by the lines' weights; returns ids per line and rows."""
    from aftersales.customers.models import CustomerTier

    rng = random.Random(SEED + 1)
    tiers = dict(CustomerTier.objects.values_list("key", "pk"))
    by_line: list[list[int]] = [[] for _ in desk.lines]
    plan = rng.choices(range(len(desk.lines)), weights=desk.line_weights, k=count)
    for customer_id, line_index in enumerate(plan, start=1):
        by_line[line_index].append(customer_id)

    def rows() -> Iterator[tuple[Any, ...]]:
        for customer_id, line_index in enumerate(plan, start=1):
            created = now - timedelta(days=1000 * rng.random() ** 1.5)
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
            tier = tiers["vip"] if rng.random() < 0.05 else tiers["normal"]
            yield (
                customer_id, name, "[]", "", "{}", True, 1, created, created,
                desk.lines[line_index].pk, tier,
            )  # fmt: skip

    return by_line, rows()


CUSTOMER_COLUMNS = [
    "id", "name", "tags", "notes", "custom_fields", "is_active", "version", "created_at",
    "updated_at", "business_line_id", "tier_id",
]  # fmt: skip
TICKET_COLUMNS = [
    "id", "number", "subject", "description", "channel", "status_category", "priority",
    "custom_fields", "custom_field_versions", "version", "created_at", "updated_at",
    "status_changed_at", "first_response_at", "last_customer_reply_at", "last_agent_reply_at",
    "solved_at", "closed_at", "assignee_id", "business_line_id", "created_by_id",
    "requester_id", "status_id", "team_id", "ticket_type_id",
]  # fmt: skip


def _ages(rng: random.Random, count: int, now: datetime) -> list[tuple[datetime, str]]:
    """(created_at, category) for every ticket, oldest first, so ids follow creation time.

    Closed tickets spread over two years with the volume growing; solved ones were solved in
    the last week (auto-close takes them after 7 days); unsolved ones are mostly recent with a
    tail of old pending cases.
    """
    names = list(CATEGORIES)
    categories = rng.choices(names, weights=[CATEGORIES[n] for n in names], k=count)
    result = []
    for category in categories:
        if category == "closed":
            age = 10 + 720 * rng.random() ** 1.4
        elif category == "solved":
            age = 7 * rng.random() + rng.lognormvariate(0.5, 1.0)
        elif category == "new":
            age = rng.expovariate(1 / 1.5)
        elif category == "pending_internal":
            age = rng.expovariate(1 / 35)
        else:
            age = rng.expovariate(1 / 18)
        result.append((now - timedelta(days=min(age, 729)), category))
    result.sort(key=lambda pair: pair[0])
    return result


def _custom_fields(rng: random.Random, type_key: str, created: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if type_key == "repair" or rng.random() < 0.9:
        values["model"] = rng.choices(MODELS, weights=MODEL_WEIGHTS)[0]
    area = rng.choices(list(REGIONS), weights=[r[2] for r in REGIONS.values()])[0]
    values["region"] = [area, rng.choice(REGIONS[area][3])]
    if type_key == "repair":
        group = rng.choices(list(FAULTS), weights=[30, 20, 20, 12, 8, 7, 3])[0]
        values["fault"] = [group, rng.choice(FAULTS[group][2])]
        if rng.random() < 0.9:
            bought = created - timedelta(days=rng.randint(1, 1800))
            values["purchase_date"] = bought.date().isoformat()
    if type_key == "repair" or rng.random() < 0.3:
        values["serial"] = "SN" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=10))
    return values


def ticket_rows(
    desk: Desk, customers: list[list[int]], count: int, now: datetime, checks: list[Any]
) -> tuple[Iterator[tuple[Any, ...]], list[tuple[int, str]], dict[tuple[str, str], int]]:
    """Rows of ``tickets_ticket`` oldest first; fills the tag rows and number sequences.

    ``checks`` collects (ticket type, custom_fields) of the first rows so the caller can check
    them against the form engine.
    """
    rng = random.Random(SEED + 2)
    ages = _ages(rng, count, now)
    tags: list[tuple[int, str]] = []
    sequences: dict[tuple[str, str], int] = Counter()
    channels = list(CHANNELS)
    channel_weights = list(CHANNELS.values())
    priorities = list(PRIORITIES)
    priority_weights = list(PRIORITIES.values())
    type_weights = [weight for *_, weight in TYPES]

    def rows() -> Iterator[tuple[Any, ...]]:
        from django.utils import timezone

        for ticket_id, (created, category) in enumerate(ages, start=1):
            line_index = rng.choices(range(len(desk.lines)), weights=desk.line_weights)[0]
            line = desk.lines[line_index]
            type_index = rng.choices(range(len(TYPES)), weights=type_weights)[0]
            ticket_type = desk.types[line.pk][type_index]
            type_key = TYPES[type_index][0]
            team = None
            if rng.random() < 0.97:
                team = rng.choices(desk.teams[line.pk], weights=desk.team_weights[line.pk])[0]
            assignee = None
            if team is not None and category != "new":
                assigned_share = 0.85 if category == "open" else 0.98
                if rng.random() < assigned_share:
                    assignee = rng.choice(desk.members[team.pk])
            channel = rng.choices(channels, weights=channel_weights)[0]
            created_by = None
            if channel in ("phone", "web") and team is not None:
                created_by = assignee or rng.choice(desk.members[team.pk])
            values = _custom_fields(rng, type_key, created)
            if len(checks) < 300:
                checks.append((ticket_type, values))
            age = now - created
            first_response = None
            if category != "new":
                first_response = created + min(age, timedelta(minutes=rng.expovariate(1 / 90)))
            solved = closed = None
            if category in ("solved", "closed"):
                work = timedelta(days=rng.lognormvariate(0.5, 1.0))
                if category == "solved":
                    solved = min(created + work, now - timedelta(minutes=5))
                    updated = solved
                else:
                    solved = created + work
                    closed = solved + timedelta(days=7 if rng.random() < 0.7 else rng.random())
                    closed = min(closed, now - timedelta(days=1))
                    solved = min(solved, closed)
                    updated = closed
            else:
                updated = created + age * rng.random() ** 0.5
            status = rng.choice(desk.statuses[ticket_type.pk][category])
            prefix = desk.prefixes.get(ticket_type.pk) or ticket_type.number_prefix
            period = timezone.localtime(created).strftime("%Y%m")
            sequences[(prefix, period)] += 1
            number = f"{prefix}-{period}-{sequences[(prefix, period)]:04d}"
            model = values.get("model", "")
            fault = values.get("fault", ["", ""])[-1]
            subject = f"{model} {rng.choice(COMPLAINTS)[:14]} {fault}".strip()
            description = f"<p>{rng.choice(COMPLAINTS)}。{rng.choice(COMPLAINTS)}。</p>"
            if rng.random() < 0.3:
                wanted = rng.sample(TAGS, rng.choice((1, 1, 2)))
                tags.extend((ticket_id, tag) for tag in wanted)
            yield (
                ticket_id, number, subject, description, channel, category,
                rng.choices(priorities, weights=priority_weights)[0],
                json.dumps(values, ensure_ascii=False), json.dumps(dict.fromkeys(values, 1)),
                1, created, updated, updated, first_response,
                created if channel != "phone" else None, first_response, solved, closed,
                assignee, line.pk, created_by, rng.choice(customers[line_index]), status,
                team.pk if team else None, ticket_type.pk,
            )  # fmt: skip

    return rows(), tags, sequences


def load(count: int, customer_count: int) -> None:
    from django.db import transaction
    from django.utils import timezone

    from aftersales.customfields import services as customfields
    from aftersales.tickets.models import TicketNumberSequence, form_key_of

    started = time.perf_counter()
    with transaction.atomic():
        desk = configure_desk()
    print(f"load: configuration through the services in {time.perf_counter() - started:.1f} s")
    now = timezone.now()
    checks: list[Any] = []
    with raw_connection() as connection:
        connection.execute("SET session_replication_role = replica")  # FK triggers: rows are ours
        connection.execute("SET maintenance_work_mem = '256MB'")
        step = time.perf_counter()
        customers, rows = customer_rows(desk, customer_count, now)
        dropped = []
        for table in ("customers_customer", "tickets_ticket", "tickets_tickettag"):
            for name, definition in _secondary_indexes(connection, table):
                connection.execute(f'DROP INDEX "{name}"')
                dropped.append(definition)
        _copy(connection, "customers_customer", CUSTOMER_COLUMNS, rows)
        print(f"load: {customer_count} customers in {time.perf_counter() - step:.1f} s")
        step = time.perf_counter()
        rows, tags, sequences = ticket_rows(desk, customers, count, now, checks)
        _copy(connection, "tickets_ticket", TICKET_COLUMNS, rows)
        print(f"load: {count} tickets in {time.perf_counter() - step:.1f} s")
        step = time.perf_counter()
        _copy(connection, "tickets_tickettag", ["ticket_id", "name"], iter(tags))
        print(f"load: {len(tags)} tag rows in {time.perf_counter() - step:.1f} s")
        step = time.perf_counter()
        for definition in dropped:
            connection.execute(definition)
        for table in ("customers_customer", "tickets_ticket", "tickets_tickettag"):
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        print(f"load: {len(dropped)} indexes rebuilt in {time.perf_counter() - step:.1f} s")
        step = time.perf_counter()
        for table in ("customers_customer", "tickets_ticket", "tickets_tickettag"):
            connection.execute(f"VACUUM (ANALYZE) {table}")
        print(f"load: VACUUM ANALYZE in {time.perf_counter() - step:.1f} s")
    TicketNumberSequence.objects.bulk_create(
        [
            TicketNumberSequence(prefix=prefix, period=period, last_value=value)
            for (prefix, period), value in sequences.items()
        ]
    )
    # The generated values are what the form engine itself would store.
    for ticket_type, values in checks:
        cleaned = customfields.clean_values(
            target="tickets.ticket",
            subtarget=form_key_of(ticket_type.pk),
            values=values,
            existing={},
            partial=True,
        )
        if cleaned != values:
            raise SystemExit(f"Generated custom fields {values} clean to {cleaned}.")
    with raw_connection() as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_dataset"
            " (name text PRIMARY KEY, description jsonb NOT NULL, loaded_at timestamptz NOT NULL)"
        )
        connection.execute(
            "INSERT INTO bench_dataset VALUES ('tickets', %s, now())"
            " ON CONFLICT (name) DO UPDATE SET description = excluded.description",
            [json.dumps(SIGNATURE)],
        )
    print(f"load: done in {time.perf_counter() - started:.0f} s")


def describe() -> None:
    """Table and index sizes and the shape of what was loaded."""
    with raw_connection() as connection:
        rows = connection.execute(
            """
            SELECT status_category, count(*) FROM tickets_ticket GROUP BY 1 ORDER BY 2 DESC
            """
        ).fetchall()
        total = sum(count for _, count in rows)
        print(
            "data: tickets by category: "
            + ", ".join(f"{name} {100 * count / total:.1f} %" for name, count in rows)
        )
        size = connection.execute(
            "SELECT pg_size_pretty(pg_table_size('tickets_ticket')),"
            " pg_size_pretty(pg_indexes_size('tickets_ticket'))"
        ).fetchone()
        print(f"data: tickets_ticket {size[0]} table, {size[1]} indexes")


# --- The inbox ------------------------------------------------------------------------------


@dataclass
class Case:
    label: str
    filters: Callable[[int], dict[str, list[str]]]  # value number (0-2) → raw filters
    deep: bool


def inbox_page(viewer: Any, raw: dict[str, list[str]], cursor: str | None, limit: int) -> Any:
    """One inbox page exactly as a request computes it."""
    from aftersales.accounts import authz
    from aftersales.api.pagination import paginate
    from aftersales.tickets import filtering, selectors

    authz.forget(viewer)  # a request starts without the viewer's grants and teams
    filters = filtering.clean_filters(raw)
    queryset = filtering.apply_filters(selectors.tickets_visible_to(viewer), filters, viewer)
    order_field, descending = filtering.SORTS[filtering.DEFAULT_SORT]
    return paginate(
        queryset, cursor=cursor, limit=limit, order_field=order_field, descending=descending
    )


def pick_agents(count: int) -> list[Any]:
    """Agents at scope "my teams": half with the largest inboxes (big teams, two teams), half
    spread over the rest, so both deep pages and ordinary ones are sampled."""
    from django.db.models import Count

    from aftersales.accounts.models import User
    from aftersales.tickets.models import Ticket

    open_per_team = dict(
        Ticket.objects.filter(status_category__in=UNSOLVED, team__isnull=False)
        .values("team_id")
        .annotate(n=Count("pk"))
        .values_list("team_id", "n")
    )
    agents = list(
        User.objects.filter(username__startswith="agent").prefetch_related("team_memberships")
    )

    def inbox_size(user: Any) -> int:
        return sum(open_per_team.get(m.team_id, 0) for m in user.team_memberships.all())

    ordered = sorted(agents, key=lambda user: (-inbox_size(user), user.pk))
    big = count // 2
    rest = ordered[big:]
    step = len(rest) // (count - big)
    return ordered[:big] + rest[step // 2 :: step][: count - big]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def fmt(values: list[float]) -> str:
    if not values:
        return "     —        "
    return f"{statistics.median(values):5.1f} / {percentile(values, 0.95):5.1f}"


def share_of(key: str, value: str) -> str:
    from aftersales.tickets.models import Ticket

    total = Ticket.objects.count()
    if key == "model":
        matching = Ticket.objects.filter(custom_fields__model=value).count()
    else:
        matching = Ticket.objects.filter(custom_fields__contains={key: [value]}).count()
    return f"{100 * matching / total:.1f}"


class Clock:
    """Wall time, and CPU time of this process plus its database backend.

    The CPU figure is what a request costs on a machine with nothing else running (the data set
    is in memory, so a query waits on no disk): on a shared, busy machine it moves far less than
    the wall time, which also counts the time spent waiting for a core.
    """

    def __init__(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend = cursor.fetchone()[0]

    def _cpu(self) -> int:
        with open(f"/proc/{self.backend}/schedstat") as stat:
            backend = int(stat.read().split()[0])
        return time.process_time_ns() + backend

    def time(self, call: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
        """(result, wall ms, CPU ms) of ``call(*args)``."""
        cpu, wall = self._cpu(), time.perf_counter()
        result = call(*args)
        return result, (time.perf_counter() - wall) * 1000, (self._cpu() - cpu) / 1e6


def measure_inbox(samples: int, limit: int, explain: bool) -> list[str]:
    """p50/p95 of page 1 and page 200 per case; returns the printed lines."""
    agents = pick_agents(6)
    clock = Clock()
    common = MODELS[:3]
    rare = MODELS[-3:]
    areas = ["east", "south", "central"]
    my_teams = {"team": ["mine"], "status_category": UNSOLVED}
    cases = [
        Case("my teams' open", lambda v: my_teams, deep=True),
        Case(
            f"+ cf.model common ({'/'.join(share_of('model', m) for m in common)} %)",
            lambda v: {**my_teams, "cf.model": [common[v]]},
            deep=True,
        ),
        Case(
            f"+ cf.model rare ({'/'.join(share_of('model', m) for m in rare)} %)",
            lambda v: {**my_teams, "cf.model": [rare[v]]},
            deep=False,
        ),
        Case(
            f"+ cf.region area ({'/'.join(share_of('region', a) for a in areas)} %)",
            lambda v: {**my_teams, "cf.region": [areas[v]]},
            deep=True,
        ),
    ]
    lines = [
        f"inbox: page size {limit}, {samples} samples per figure rotating over {len(agents)}"
        " agents at scope 'my teams' x 3 values; ms p50 / p95, wall and CPU (this process +"
        " its PostgreSQL backend)"
    ]
    print(lines[0], flush=True)
    for case in cases:
        first: dict[str, list[float]] = {"wall": [], "cpu": []}
        deep: dict[str, list[float]] = {"wall": [], "cpu": []}
        cursors: dict[tuple[int, int], str | None] = {}
        for n in range(samples + 10):
            agent, value = n % len(agents), (n // len(agents)) % 3
            viewer, raw = agents[agent], case.filters(value)
            page, wall, cpu = clock.time(inbox_page, viewer, raw, None, limit)
            if n >= 10:  # the first rounds only warm the caches
                first["wall"].append(wall)
                first["cpu"].append(cpu)
            if not case.deep:
                continue
            if (agent, value) not in cursors:
                cursors[(agent, value)] = cursor_of_page(viewer, raw, page.next_cursor, limit)
            cursor = cursors[(agent, value)]
            if cursor is None:
                continue
            _, wall, cpu = clock.time(inbox_page, viewer, raw, cursor, limit)
            if n >= 10:
                deep["wall"].append(wall)
                deep["cpu"].append(cpu)
        line = f"{case.label:38} page 1: {fmt(first['wall'])} wall, {fmt(first['cpu'])} cpu"
        if case.deep:
            reached = sum(1 for cursor in cursors.values() if cursor is not None)
            line += (
                f" | page {PAGE_DEPTH}: {fmt(deep['wall'])} wall, {fmt(deep['cpu'])} cpu"
                f" ({reached}/{len(cursors)} inboxes that deep)"
            )
        lines.append(line)
        print(line, flush=True)
        if explain:
            deep_key = next((key for key, cursor in cursors.items() if cursor), None)
            viewer = agents[deep_key[0]] if deep_key else agents[0]
            value = deep_key[1] if deep_key else 0
            explain_case(viewer, case.filters(value), limit, cursors.get(deep_key or (0, 0)))
    return lines


def cursor_of_page(viewer: Any, raw: dict[str, list[str]], cursor: str | None, limit: int) -> Any:
    """The cursor that opens page ``PAGE_DEPTH``, following them from page 2; None when the
    inbox has fewer pages."""
    page_number = 2
    while cursor and page_number < PAGE_DEPTH:
        cursor = inbox_page(viewer, raw, cursor, limit).next_cursor
        page_number += 1
    return cursor


def explain_case(viewer: Any, raw: dict[str, list[str]], limit: int, cursor: str | None) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the page query, first page and the deep one."""
    from django.db import connection

    captured: list[str] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().startswith("SELECT") and '"tickets_ticket"' in sql and "LIMIT" in sql:
            with connection.cursor() as explain_cursor:
                explain_cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                captured.append("\n".join(row[0] for row in explain_cursor.fetchall()))
        return execute(sql, params, many, context)

    for label, page_cursor in (("page 1", None), (f"page {PAGE_DEPTH}", cursor)):
        if label != "page 1" and page_cursor is None:
            continue
        captured.clear()
        with connection.execute_wrapper(capture):
            inbox_page(viewer, raw, page_cursor, limit)
        print(f"--- EXPLAIN {label}, {viewer.username}, {raw}")
        print("\n".join(captured), flush=True)


def prepare(database: str, reload: bool, data_dir: str) -> None:
    """Point Django at the bench database, loading the data set unless it is there."""
    url, created = ensure_database(database, reload=reload)
    configure_django(url, data_dir)
    signature = loaded_signature()
    if signature == SIGNATURE:
        print(f"load: reusing the data set in {database} (--reload loads it again)")
        return
    if not created:
        print(f"load: {database} holds no complete data set of this shape; loading it afresh")
        drop_database(database)
        ensure_database(database, reload=False)
        configure_django(url, data_dir)
    load(SIGNATURE["tickets"], SIGNATURE["customers"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="as_bench")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--limit", type=int, default=25)
    parser.add_argument("--reload", action="store_true", help="load the data set again")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN of each query")
    parser.add_argument("--tickets", type=int, default=SIGNATURE["tickets"])
    parser.add_argument("--customers", type=int, default=SIGNATURE["customers"])
    options = parser.parse_args()
    SIGNATURE.update(tickets=options.tickets, customers=options.customers)
    try:
        with temp_dir("aftersales-bench-") as data_dir:
            prepare(options.database, options.reload, data_dir)
            describe()
            measure_inbox(options.samples, options.limit, options.explain)
    finally:
        if options.drop:
            drop_database(options.database)


if __name__ == "__main__":
    main()
