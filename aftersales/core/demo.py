"""Demo data for the embedded mode: one business line with its teams and a person per role.

Passwords are random per installation, kept in ``<data dir>/demo_logins.json`` (mode 0600)
and printed by ``aftersales run`` and ``aftersales demo``.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aftersales.accounts import services as accounts
from aftersales.accounts.models import BusinessLine, Role, RoleGrant, Team, User
from aftersales.customers import services as customers
from aftersales.customers.models import Customer, CustomerTier
from aftersales.customfields import services as customfields
from aftersales.tickets import services as tickets
from aftersales.tickets.models import Ticket, TicketStatus, TicketType, form_key_of


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


DEMO_PEOPLE = [
    # username, display name, role key, scope, team index (None: no team)
    ("admin", "系统管理员 Admin", "admin", RoleGrant.Scope.ALL, None),
    ("manager", "王主管 Wang (manager)", "service-manager", RoleGrant.Scope.BUSINESS_LINES, 0),
    ("agent1", "李客服 Li (agent)", "agent", RoleGrant.Scope.TEAMS, 0),
    ("agent2", "张客服 Zhang (agent)", "agent", RoleGrant.Scope.TEAMS, 0),
    ("engineer", "赵工程师 Zhao (engineer)", "field-engineer", RoleGrant.Scope.OWN, 2),
    ("warehouse", "陈库管 Chen (warehouse)", "warehouse-keeper", RoleGrant.Scope.BUSINESS_LINES, 3),
]
TEAMS = [
    "一线客服 Front line",
    "二线技术支持 Second line",
    "现场服务 Field service",
    "备件仓库 Spare parts",
]


def logins_file() -> Path:
    return Path(settings.DATA_DIR) / "demo_logins.json"


def has_demo() -> bool:
    return User.objects.filter(username="admin").exists()


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def saved_logins() -> list[DemoLogin]:
    path = logins_file()
    if not path.exists():
        return []
    return [DemoLogin(**item) for item in json.loads(path.read_text(encoding="utf-8"))]


def _save(logins: list[DemoLogin]) -> None:
    path = logins_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump([login.__dict__ for login in logins], handle, ensure_ascii=False, indent=2)


@transaction.atomic
def load_demo() -> list[DemoLogin]:
    """Create the demo organisation; refuses if it already exists."""
    if has_demo():
        raise RuntimeError("The demo data is already loaded.")
    logins: list[DemoLogin] = []
    admin_password = _password()
    admin = accounts.bootstrap_admin(
        username="admin",
        password=admin_password,
        email="admin@example.com",
        display_name=DEMO_PEOPLE[0][1],
    )
    logins.append(DemoLogin("admin", admin_password, "admin"))
    line = accounts.create_business_line(
        actor=admin,
        code="appliances",
        name="家用电器售后",
        description="Home appliances after-sales service",
    )
    teams = [accounts.create_team(actor=admin, name=name, business_line=line) for name in TEAMS]
    for username, display_name, role_key, scope, team_index in DEMO_PEOPLE[1:]:
        password = _password()
        user = accounts.create_user(
            actor=admin,
            username=username,
            password=password,
            email=f"{username}@example.com",
            display_name=display_name,
            business_lines=[line],
        )
        accounts.grant_role(
            actor=admin, user=user, role=Role.objects.get(key=role_key), scope=scope
        )
        if team_index is not None:
            team = teams[team_index]
            members = [*team.members.all(), user]
            accounts.set_team_members(actor=admin, team=team, members=members)
        logins.append(DemoLogin(username, password, role_key))
    accounts.update_team(
        actor=admin, team=teams[0], changes={"lead": User.objects.get(username="manager")}
    )
    _load_configuration_and_customers(admin, line, teams[0])
    password = _password()
    contact = accounts.create_user(
        actor=admin,
        username="customer",
        password=password,
        email="customer@example.com",
        display_name="刘先生 Mr Liu (customer)",
        kind=User.Kind.CUSTOMER,
    )
    logins.append(DemoLogin("customer", password, "customer contact"))
    liu = customers.create_customer(
        actor=admin,
        name="刘先生 Mr Liu",
        business_line=line,
        team=teams[0],
        portal_user=contact,
        identities=[("phone", "13900139000"), ("email", "customer@example.com")],
        custom_fields={"contract": "basic"},
    )
    _load_tickets(admin, liu, teams)
    _load_rules(admin, teams)
    _load_surveys(admin, teams)
    _load_messaging(admin, line, teams[0])
    _load_mailbox(admin, line, teams[0])
    _load_web_form(admin, line, teams[0])
    transaction.on_commit(lambda: _save(logins))
    return logins


def _load_configuration_and_customers(admin: User, line: BusinessLine, team: Team) -> None:
    """Ticket types with their default lifecycles, a customer field, an organisation."""
    for key, name_zh, name_en, prefix in [
        ("repair", "维修", "Repair", "REP"),
        ("consultation", "咨询", "Consultation", "ASK"),
        ("complaint", "投诉", "Complaint", "CMP"),
    ]:
        tickets.create_ticket_type(
            actor=admin,
            business_line=line,
            key=key,
            name_zh=name_zh,
            name_en=name_en,
            number_prefix=prefix,
        )
    customfields.create_definition(
        actor=admin,
        target=customers.CUSTOMER_TARGET,
        key="contract",
        field_type="single_choice",
        label_zh="服务合同",
        label_en="Service contract",
        config={
            "options": [
                {"key": "gold", "label_zh": "金牌延保", "label_en": "Gold extended warranty"},
                {"key": "basic", "label_zh": "标准保修", "label_en": "Standard warranty"},
            ]
        },
    )
    hotels = customers.create_organisation(
        actor=admin, name="华东连锁酒店集团 East Hotels", code="east-hotels", business_line=line
    )
    customers.create_customer(
        actor=admin,
        name="周经理 Manager Zhou",
        business_line=line,
        organisation=hotels,
        tier=CustomerTier.objects.filter(key="vip").first(),
        team=team,
        identities=[("phone", "13800138000"), ("email", "zhou@east-hotels.example.com")],
        custom_fields={"contract": "gold"},
    )


REPAIR_FIELDS = [
    {
        "key": "fault",
        "field_type": "cascade",
        "label_zh": "产品与故障",
        "label_en": "Product and fault",
        "is_required": True,
        "customer_visible": True,
        "customer_editable": True,
        "config": {
            "options": [
                {
                    "key": "washer",
                    "label_zh": "洗衣机",
                    "label_en": "Washing machine",
                    "children": [
                        {"key": "e3", "label_zh": "E3 不排水", "label_en": "E3 does not drain"},
                        {"key": "noise", "label_zh": "噪音大", "label_en": "Loud noise"},
                    ],
                },
                {
                    "key": "aircon",
                    "label_zh": "空调",
                    "label_en": "Air conditioner",
                    "children": [
                        {"key": "no_cool", "label_zh": "不制冷", "label_en": "Does not cool"},
                        {"key": "leak", "label_zh": "漏水", "label_en": "Leaks water"},
                    ],
                },
            ]
        },
    },
    {
        "key": "in_warranty",
        "field_type": "yes_no",
        "label_zh": "在保修期内",
        "label_en": "Under warranty",
        "customer_visible": True,
        "customer_editable": True,
    },
    {
        "key": "invoice_number",
        "field_type": "text",
        "label_zh": "购买发票号",
        "label_en": "Purchase invoice number",
        "is_required": True,
        "customer_visible": True,
        "customer_editable": True,
        "visible_when": {"field": "in_warranty", "op": "equals", "value": True},
    },
    {
        "key": "resolution_code",
        "field_type": "single_choice",
        "label_zh": "解决方式",
        "label_en": "Resolution",
        "section": "resolution",
        "config": {
            "options": [
                {"key": "repaired", "label_zh": "已维修", "label_en": "Repaired"},
                {"key": "replaced", "label_zh": "已换新", "label_en": "Replaced"},
                {"key": "advice", "label_zh": "指导解决", "label_en": "Solved by advice"},
            ]
        },
    },
]

DEMO_TICKETS = [
    # subject, requester ("liu"/"zhou"), fault path, priority, status key, assignee username
    ("洗衣机显示 E3，不排水", "liu", ["washer", "e3"], "high", "open", "agent1"),
    ("空调不制冷，室外机不转", "zhou", ["aircon", "no_cool"], "urgent", "new", None),
    ("酒店 301 房空调漏水", "zhou", ["aircon", "leak"], "normal", "pending_customer", "agent2"),
    ("洗衣机脱水时噪音很大", "liu", ["washer", "noise"], "low", "solved", "agent1"),
]


def _load_tickets(admin: User, liu: Customer, teams: list[Team]) -> None:
    """The repair form (cascade, conditional field, resolution on solving) and a few tickets."""
    repair = TicketType.objects.get(key="repair", business_line=teams[0].business_line)
    for position, definition in enumerate(REPAIR_FIELDS):
        customfields.create_definition(
            actor=admin,
            target="tickets.ticket",
            subtarget=form_key_of(repair.pk),
            position=position * 10,
            **definition,  # type: ignore[arg-type]
        )
    zhou = Customer.objects.get(name="周经理 Manager Zhou")
    requesters = {"liu": liu, "zhou": zhou}
    steps = {
        "new": [],
        "open": ["open"],
        "pending_customer": ["open", "pending_customer"],
        "solved": ["open", "solved"],
    }
    for subject, who, fault, priority, status_key, assignee in DEMO_TICKETS:
        ticket = tickets.create_ticket(
            actor=admin,
            ticket_type=repair,
            requester=requesters[who],
            subject=subject,
            description=subject,
            channel=Ticket.Channel.PHONE,
            priority=priority,
            team=teams[0],
            assignee=User.objects.get(username=assignee) if assignee else None,
            custom_fields={"fault": fault, "in_warranty": False},
            tags=["演示 demo"],
        )
        for key in steps[status_key]:
            extra = {"resolution_code": "repaired"} if key == "solved" else {}
            tickets.update_ticket(
                actor=admin,
                ticket=ticket,
                changes={
                    "status": TicketStatus.objects.get(ticket_type=repair, key=key),
                    "custom_fields": extra,
                },
            )
        if status_key != "new":
            tickets.add_comment(
                actor=admin,
                ticket=ticket,
                body="您好，我们已收到您的报修，工程师会尽快与您联系。",
                is_public=True,
            )
            tickets.add_comment(
                actor=admin,
                ticket=ticket,
                body="已查询备件库存，排水泵有货。",
                is_public=False,
            )


def _load_rules(admin: User, teams: list[Team]) -> None:
    """A few rules and an automation of the kind a service desk starts with."""
    from aftersales.automation import services as automation
    from aftersales.notifications.models import NotificationTemplate

    repair = TicketType.objects.get(key="repair", business_line=teams[0].business_line)
    opened = TicketStatus.objects.get(ticket_type=repair, key="open")
    automation.create_rule(
        actor=admin,
        values={
            "name": "VIP 客户优先 · VIP customers first",
            "triggers": ["created"],
            "condition": {"all": [{"field": "customer.tier", "op": "is", "value": "vip"}]},
            "actions": [
                {"type": "set_priority", "priority": "high"},
                {"type": "add_tags", "tags": ["VIP"]},
            ],
        },
    )
    status_changed = NotificationTemplate.objects.filter(key="status-changed").first()
    if status_changed is not None:
        automation.create_rule(
            actor=admin,
            values={
                "name": "开始处理时通知客户 · Tell the customer work started",
                "triggers": ["status_changed"],
                "condition": {
                    "all": [{"field": "ticket.status", "op": "changed_to", "value": opened.pk}]
                },
                "actions": [
                    {"type": "notify", "audiences": ["requester"], "template": status_changed.pk}
                ],
            },
        )
    automation.create_automation(
        actor=admin,
        values={
            "name": "2 小时未受理提醒主管 · Remind the lead after 2 hours",
            "clock": "created_at",
            "hours": "2",
            "status_categories": ["new"],
            "actions": [
                {"type": "add_tags", "tags": ["超时未受理"]},
                {"type": "note", "body": "{{ ticket.number }} 两小时未受理，请主管关注。"},
            ],
        },
    )


def _load_surveys(admin: User, teams: list[Team]) -> None:
    """Survey settings of the line, the rule "rating at most 2 → reopen and tell the team
    lead", and Mr Liu's answered survey on his solved ticket."""
    from aftersales.automation import services as automation
    from aftersales.notifications import services as notifications
    from aftersales.surveys import services as surveys

    line = teams[0].business_line
    reasons = [dict(reason) for reason in surveys.DEFAULT_REASONS]
    reasons.append({"key": "on-time", "label_zh": "工程师准时上门", "label_en": "Engineer on time"})
    surveys.create_settings(
        actor=admin,
        business_line=line,
        values={"delay_minutes": 30, "link_valid_days": 14, "editable_days": 7, "reasons": reasons},
    )
    texts = {
        "zh-hans": {
            "subject": "[{{ ticket.number }}] 客户差评，工单已重新打开",
            "body": "{{ customer.name }} 对工单“{{ ticket.subject }}”的评价较低，"
            "工单已重新打开，请跟进。\n{{ ticket.url }}",
        },
        "en": {
            "subject": "[{{ ticket.number }}] Low rating: the ticket is open again",
            "body": '{{ customer.name }} rated "{{ ticket.subject }}" low; the ticket was '
            "reopened. Please follow up.\n{{ ticket.url }}",
        },
    }
    low_rating = notifications.create_template(
        actor=admin,
        key="low-satisfaction",
        name="Low satisfaction rating (staff)",
        event="custom",
        audience="staff",
        content={"in_app": texts, "email": texts},
    )
    repair = TicketType.objects.get(key="repair", business_line=line)
    automation.create_rule(
        actor=admin,
        values={
            "name": "差评重开并通知组长 · Low rating: reopen and tell the team lead",
            "triggers": ["survey_answered"],
            # "changed": a comment added to a low rating later does not tell the lead again.
            "condition": {
                "all": [
                    {"field": "ticket.satisfaction", "op": "lte", "value": 2},
                    {"field": "ticket.satisfaction", "op": "changed"},
                ]
            },
            "actions": [
                {
                    "type": "set_status",
                    "status": TicketStatus.objects.get(ticket_type=repair, key="open").pk,
                },
                {"type": "notify", "audiences": ["team_lead"], "template": low_rating.pk},
            ],
            "business_lines": [line.pk],
        },
    )
    solved = Ticket.objects.filter(business_line=line, status_category="solved").first()
    if solved is None:
        return
    # Solved half an hour ago: the survey is due, goes out and is answered.
    survey = surveys.schedule_survey(ticket=solved, now=timezone.now() - timedelta(minutes=30))
    if survey is None:
        return
    surveys.send_survey(survey_id=survey.pk)
    surveys.answer_survey(
        survey=survey,
        rating=5,
        comment="工程师很专业，噪音问题彻底解决了。",
        reasons=["expertise", "on-time"],
    )


def _load_messaging(admin: User, line: BusinessLine, team: Team) -> None:
    """A WeChat Official Account whose callbacks land as consultations for the front line.

    Its token and AES key are random; enter the real AppID and secret (and the same token
    and key on the WeChat side) to connect it."""
    from aftersales.messaging import services as messaging

    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    messaging.create_account(
        actor=admin,
        key="demo-official-account",
        name="售后服务号 Service account (demo)",
        kind="wechat_official",
        app_id="wx0000000000000000",
        token=secrets.token_hex(16),
        encoding_aes_key="".join(secrets.choice(alphabet) for _ in range(43)),
        business_line=line,
        team=team,
        ticket_type=TicketType.objects.get(business_line=line, key="consultation"),
    )


def _load_mailbox(admin: User, line: BusinessLine, team: Team) -> None:
    """A support mailbox, switched off and without servers: fill in the IMAP (and SMTP)
    account under Settings → Mailboxes, check the connection, then switch it on."""
    from aftersales.channels import services as channels

    channels.create_mailbox(
        actor=admin,
        address="service@example.com",
        display_name="售后服务中心 After-sales service",
        business_line=line,
        team=team,
        ticket_type=TicketType.objects.get(business_line=line, key="repair"),
        is_active=False,
    )


def _load_web_form(admin: User, line: BusinessLine, team: Team) -> None:
    """A repair request form for the company's website. Its page is /forms/<key>/; to see it
    embedded, serve a page holding the script tag shown at /forms/settings/ on
    http://localhost:8080 (e.g. ``python -m http.server 8080``)."""
    from aftersales.webforms import services as webforms

    webforms.create_web_form(
        actor=admin,
        values={
            "name": "在线报修 Repair request",
            "ticket_type": TicketType.objects.get(business_line=line, key="repair"),
            "team": team,
            "allowed_origins": ["http://localhost:8080", "http://127.0.0.1:8080"],
            "success_message_zh": "谢谢！我们已收到您的报修，工程师会尽快与您联系。",
            "success_message_en": "Thank you! We received your request; an engineer will "
            "contact you soon.",
        },
    )


def format_logins(logins: list[DemoLogin]) -> str:
    width = max((len(login.username) for login in logins), default=8)
    lines = [
        f"  {login.username.ljust(width)}  {login.password}  ({login.role})" for login in logins
    ]
    return "\n".join(lines)
