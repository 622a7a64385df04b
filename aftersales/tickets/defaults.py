"""The default lifecycle every new ticket type starts with, in Chinese and English.

The names are data (each status stores both languages), not interface strings, so they are
not marked for gettext.
"""

from __future__ import annotations

from dataclasses import dataclass

from aftersales.tickets.models import TicketStatus

Category = TicketStatus.Category


@dataclass(frozen=True)
class StatusTemplate:
    key: str
    name_zh: str
    name_en: str
    category: str
    is_initial: bool = False


@dataclass(frozen=True)
class TransitionTemplate:
    from_key: str
    to_key: str
    name_zh: str
    name_en: str
    required_fields: tuple[str, ...] = ()


DEFAULT_STATUSES: tuple[StatusTemplate, ...] = (
    StatusTemplate("new", "新建", "New", Category.NEW, is_initial=True),
    StatusTemplate("open", "处理中", "Open", Category.OPEN),
    StatusTemplate(
        "pending_customer", "等待客户", "Waiting for customer", Category.PENDING_CUSTOMER
    ),
    StatusTemplate("pending_internal", "等待内部", "Waiting internally", Category.PENDING_INTERNAL),
    StatusTemplate("solved", "已解决", "Solved", Category.SOLVED),
    StatusTemplate("closed", "已关闭", "Closed", Category.CLOSED),
)

DEFAULT_TRANSITIONS: tuple[TransitionTemplate, ...] = (
    TransitionTemplate("new", "open", "开始处理", "Start work"),
    TransitionTemplate("open", "pending_customer", "等待客户", "Wait for customer"),
    TransitionTemplate("open", "pending_internal", "等待内部", "Wait internally"),
    TransitionTemplate("pending_customer", "open", "继续处理", "Resume"),
    TransitionTemplate("pending_internal", "open", "继续处理", "Resume"),
    TransitionTemplate("open", "solved", "解决", "Solve", required_fields=("resolution_code",)),
    TransitionTemplate("solved", "open", "重新打开", "Reopen"),
    TransitionTemplate("solved", "closed", "关闭", "Close"),
)
