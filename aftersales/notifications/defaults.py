"""The templates every installation starts with, in Chinese and English, and their seeding.

The texts are data (each template stores both languages), not interface strings, so they are
not marked for gettext. Seeding only adds what is missing: an administrator's edits survive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aftersales.notifications.choices import Channel, Event
from aftersales.notifications.models import NotificationTemplate, Reaction

Audience = NotificationTemplate.Audience


@dataclass(frozen=True)
class DefaultTemplate:
    key: str
    name: str
    event: str
    audience: str
    content: dict[str, Any]


def _texts(zh: tuple[str, str], en: tuple[str, str]) -> dict[str, dict[str, str]]:
    return {
        "zh-hans": {"subject": zh[0], "body": zh[1]},
        "en": {"subject": en[0], "body": en[1]},
    }


_SIGNATURE_ZH = "\n\n—— 售后服务中心（本邮件由系统自动发送）"
_SIGNATURE_EN = "\n\n— After-sales service (sent automatically)"

DEFAULT_TEMPLATES: tuple[DefaultTemplate, ...] = (
    DefaultTemplate(
        "ticket-received",
        "Ticket received (customer)",
        Event.TICKET_RECEIVED,
        Audience.CUSTOMER,
        {
            Channel.EMAIL: _texts(
                (
                    "[{{ ticket.number }}] 我们已收到您的请求：{{ ticket.subject }}",
                    "{{ customer.name }}，您好：\n\n我们已收到您的请求“{{ ticket.subject }}”，"
                    "工单号 {{ ticket.number }}。我们会尽快处理并与您联系。\n\n"
                    "随时查看进度：{{ request.url }}" + _SIGNATURE_ZH,
                ),
                (
                    "[{{ ticket.number }}] We received your request: {{ ticket.subject }}",
                    "Hello {{ customer.name }},\n\nWe received your request "
                    '"{{ ticket.subject }}" as ticket {{ ticket.number }}. We will get back '
                    "to you soon.\n\nFollow it here: {{ request.url }}" + _SIGNATURE_EN,
                ),
            ),
            Channel.SMS: _texts(
                ("", "【售后服务】您的请求已受理，工单号 {{ ticket.number }}。"),
                ("", "Your request was received as ticket {{ ticket.number }}."),
            ),
        },
    ),
    DefaultTemplate(
        "ticket-replied",
        "Ticket replied (customer)",
        Event.TICKET_REPLIED,
        Audience.CUSTOMER,
        {
            Channel.EMAIL: _texts(
                (
                    "[{{ ticket.number }}] {{ ticket.subject }} 有新回复",
                    "{{ customer.name }}，您好：\n\n{{ actor.name }} 回复了您的工单 "
                    "{{ ticket.number }}：\n\n{{ comment.text }}\n\n"
                    "查看并回复：{{ request.url }}" + _SIGNATURE_ZH,
                ),
                (
                    "[{{ ticket.number }}] New reply: {{ ticket.subject }}",
                    "Hello {{ customer.name }},\n\n{{ actor.name }} replied to your ticket "
                    "{{ ticket.number }}:\n\n{{ comment.text }}\n\n"
                    "See and reply: {{ request.url }}" + _SIGNATURE_EN,
                ),
            ),
        },
    ),
    DefaultTemplate(
        "status-changed",
        "Status changed (customer)",
        Event.STATUS_CHANGED,
        Audience.CUSTOMER,
        {
            Channel.EMAIL: _texts(
                (
                    "[{{ ticket.number }}] 工单状态：{{ ticket.status }}",
                    "{{ customer.name }}，您好：\n\n您的工单 {{ ticket.number }}"
                    "（{{ ticket.subject }}）状态已更新为：{{ ticket.status }}。" + _SIGNATURE_ZH,
                ),
                (
                    "[{{ ticket.number }}] Status: {{ ticket.status }}",
                    "Hello {{ customer.name }},\n\nYour ticket {{ ticket.number }} "
                    '("{{ ticket.subject }}") is now: {{ ticket.status }}.' + _SIGNATURE_EN,
                ),
            ),
            Channel.SMS: _texts(
                ("", "【售后服务】工单 {{ ticket.number }} 状态：{{ ticket.status }}。"),
                ("", "Ticket {{ ticket.number }} is now: {{ ticket.status }}."),
            ),
        },
    ),
    DefaultTemplate(
        "ticket-assigned",
        "Ticket assigned (staff)",
        Event.TICKET_ASSIGNED,
        Audience.STAFF,
        {
            Channel.IN_APP: _texts(
                (
                    "工单 {{ ticket.number }} 已分配给您",
                    "{{ actor.name }} 把工单 {{ ticket.number }}“{{ ticket.subject }}”"
                    "分配给了您（优先级：{{ ticket.priority }}）。",
                ),
                (
                    "Ticket {{ ticket.number }} assigned to you",
                    '{{ actor.name }} assigned ticket {{ ticket.number }} "{{ ticket.subject }}" '
                    "to you (priority: {{ ticket.priority }}).",
                ),
            ),
            Channel.EMAIL: _texts(
                (
                    "[{{ ticket.number }}] 已分配给您：{{ ticket.subject }}",
                    "{{ recipient.name }}，您好：\n\n{{ actor.name }} 把工单 {{ ticket.number }}"
                    "分配给了您。\n客户：{{ customer.name }}\n优先级：{{ ticket.priority }}\n\n"
                    "{{ ticket.url }}",
                ),
                (
                    "[{{ ticket.number }}] Assigned to you: {{ ticket.subject }}",
                    "Hello {{ recipient.name }},\n\n{{ actor.name }} assigned ticket "
                    "{{ ticket.number }} to you.\nCustomer: {{ customer.name }}\n"
                    "Priority: {{ ticket.priority }}\n\n{{ ticket.url }}",
                ),
            ),
        },
    ),
    DefaultTemplate(
        "mentioned",
        "Mentioned (staff)",
        Event.MENTIONED,
        Audience.STAFF,
        {
            Channel.IN_APP: _texts(
                (
                    "{{ actor.name }} 在 {{ ticket.number }} 中提到了您",
                    "{{ comment.excerpt }}",
                ),
                (
                    "{{ actor.name }} mentioned you on {{ ticket.number }}",
                    "{{ comment.excerpt }}",
                ),
            ),
            Channel.EMAIL: _texts(
                (
                    "[{{ ticket.number }}] {{ actor.name }} 提到了您",
                    "{{ actor.name }} 在工单 {{ ticket.number }}“{{ ticket.subject }}”中提到了您："
                    "\n\n{{ comment.excerpt }}\n\n{{ ticket.url }}",
                ),
                (
                    "[{{ ticket.number }}] {{ actor.name }} mentioned you",
                    '{{ actor.name }} mentioned you on ticket {{ ticket.number }} "'
                    '{{ ticket.subject }}":\n\n{{ comment.excerpt }}\n\n{{ ticket.url }}',
                ),
            ),
        },
    ),
    DefaultTemplate(
        "sla-warning",
        "SLA warning (staff)",
        Event.SLA_WARNING,
        Audience.STAFF,
        {
            Channel.IN_APP: _texts(
                (
                    "工单 {{ ticket.number }} 即将超时",
                    "“{{ ticket.subject }}”将于 {{ sla.due_at }} 到期（{{ reason }}）。",
                ),
                (
                    "Ticket {{ ticket.number }} is about to breach its SLA",
                    '"{{ ticket.subject }}" falls due at {{ sla.due_at }} ({{ reason }}).',
                ),
            ),
            Channel.EMAIL: _texts(
                (
                    "[{{ ticket.number }}] SLA 预警：{{ ticket.subject }}",
                    "工单 {{ ticket.number }} 将于 {{ sla.due_at }} 到期。\n处理人："
                    "{{ ticket.assignee }}\n团队：{{ ticket.team }}\n\n{{ ticket.url }}",
                ),
                (
                    "[{{ ticket.number }}] SLA warning: {{ ticket.subject }}",
                    "Ticket {{ ticket.number }} falls due at {{ sla.due_at }}.\nAssignee: "
                    "{{ ticket.assignee }}\nTeam: {{ ticket.team }}\n\n{{ ticket.url }}",
                ),
            ),
        },
    ),
    DefaultTemplate(
        "survey",
        "Satisfaction survey (customer)",
        Event.SURVEY,
        Audience.CUSTOMER,
        {
            Channel.EMAIL: _texts(
                (
                    "[{{ ticket.number }}] 请为我们的服务评分",
                    "{{ customer.name }}，您好：\n\n您的工单 {{ ticket.number }} 已解决。"
                    "欢迎花一分钟告诉我们您的感受：\n{{ survey.url }}" + _SIGNATURE_ZH,
                ),
                (
                    "[{{ ticket.number }}] How did we do?",
                    "Hello {{ customer.name }},\n\nYour ticket {{ ticket.number }} is solved. "
                    "Please take a minute to rate our service:\n{{ survey.url }}" + _SIGNATURE_EN,
                ),
            ),
            Channel.SMS: _texts(
                ("", "【售后服务】工单 {{ ticket.number }} 已解决，请评价：{{ survey.url }}"),
                ("", "Ticket {{ ticket.number }} is solved. Rate us: {{ survey.url }}"),
            ),
        },
    ),
)

# Which default template each default reaction sends.
DEFAULT_REACTIONS: dict[str, str] = {
    Reaction.Trigger.TICKET_CREATED: "ticket-received",
    Reaction.Trigger.PUBLIC_REPLY: "ticket-replied",
    Reaction.Trigger.ASSIGNED: "ticket-assigned",
    Reaction.Trigger.MENTIONED: "mentioned",
}


def sync_default_templates() -> int:
    """Add the default templates and reactions that are missing; returns how many templates."""
    added = 0
    for default in DEFAULT_TEMPLATES:
        _, created = NotificationTemplate.objects.get_or_create(
            key=default.key,
            defaults={
                "name": default.name,
                "event": default.event,
                "audience": default.audience,
                "content": default.content,
                "is_default": True,
            },
        )
        added += int(created)
    for trigger, key in DEFAULT_REACTIONS.items():
        Reaction.objects.get_or_create(
            trigger=trigger,
            defaults={"template": NotificationTemplate.objects.filter(key=key).first()},
        )
    return added
