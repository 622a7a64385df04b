"""Catalogs: the fields a condition may test, as the builder offers and the compiler reads them.

A :class:`Field` says what a business person sees (label, operators, options) and how the
compiler reaches the value in CEL (``cel``, ``present``, ``words``). :func:`ticket_catalog`
is the catalog of ticket rules, time-based automations and SLA policies: the built-in ticket,
customer, event and time fields, plus the custom fields of the active ticket types of the
given business lines. Another kind of object declares its own catalog the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import translation
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext_lazy as _

from aftersales.conditions import environment, literals
from aftersales.conditions import operators as ops

Options = Callable[[], list[tuple[Any, str]]]


@dataclass(frozen=True)
class Field:
    """One thing a condition can test, e.g. ``ticket.priority`` or ``ticket.cf.region``.

    ``cel`` is the CEL expression of the value (for custom fields wrapped in ``conversion``,
    e.g. ``double(...)``); ``raw`` the same expression unconverted. ``present`` is a CEL
    expression that is true when the field has a value (empty: it always has one); ``words``
    the lower-cased text for word matching.
    """

    key: str
    label: str | Promise
    value_type: str
    operators: tuple[str, ...]
    options: Options | None = None
    changeable: bool = False
    group: str | Promise = ""
    cel: str = ""
    raw: str = ""
    conversion: str = ""
    present: str = ""
    words: str = ""

    def option_values(self) -> dict[Any, str]:
        """Option value → label in the current language ({} when the field has no list)."""
        return dict(self.options()) if self.options is not None else {}


def make_field(
    key: str,
    label: str | Promise,
    value_type: str,
    *,
    cel: str,
    conversion: str = "",
    present: str = "",
    words: str = "",
    options: Options | None = None,
    changeable: bool = False,
    group: str | Promise = "",
    operators: tuple[str, ...] | None = None,
) -> Field:
    """A field whose operators follow from its value type (unless given)."""
    return Field(
        key=key,
        label=label,
        value_type=value_type,
        operators=operators or ops.operators_for(value_type, changeable=changeable),
        options=options,
        changeable=changeable,
        group=group,
        cel=f"{conversion}({cel})" if conversion else cel,
        raw=cel,
        conversion=conversion,
        present=present,
        words=words,
    )


@dataclass
class Catalog:
    """The fields of one kind of condition, by key, in the order the builder lists them."""

    fields: list[Field]
    environment: str = environment.TICKET
    _by_key: dict[str, Field] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {item.key: item for item in self.fields}

    def get(self, key: str) -> Field | None:
        return self._by_key.get(key)

    def as_json(self) -> list[dict[str, Any]]:
        """Fields, operators and options with labels in the current language (for the builder)."""
        return [_field_json(item) for item in self.fields]


def _field_json(item: Field) -> dict[str, Any]:
    return {
        "key": item.key,
        "label": str(item.label),
        "group": str(item.group),
        "value_type": item.value_type,
        "changeable": item.changeable,
        "operators": [
            {
                "key": key,
                "label": str(ops.OPERATORS[key].label),
                "value": ops.OPERATORS[key].value,
            }
            for key in item.operators
        ],
        "options": (
            [{"value": value, "label": label} for value, label in item.options()]
            if item.options is not None
            else None
        ),
    }


# --- The ticket catalog -------------------------------------------------------------------------

TICKET_GROUP = _("Ticket")
CUSTOM_GROUP = _("Ticket form")
CUSTOMER_GROUP = _("Customer")
EVENT_GROUP = _("Event")
TIME_GROUP = _("Time")

EVENT_TYPES: tuple[tuple[str, Promise], ...] = (
    ("created", _("Ticket created")),
    ("updated", _("Ticket updated")),
    ("customer_replied", _("Customer replied")),
    ("agent_replied", _("Agent replied")),
    ("status_changed", _("Status changed")),
    ("field_changed", _("Field changed")),
    ("assigned", _("Assigned")),
    ("sla_warning", _("SLA warning")),
    ("sla_breached", _("SLA breached")),
    ("survey_answered", _("Survey answered")),
    ("time", _("Time-based check")),
)
ACTOR_KINDS: tuple[tuple[str, Promise], ...] = (
    ("agent", _("Agent")),
    ("customer", _("Customer")),
    ("system", _("System")),
)


def _static(choices: Iterable[tuple[Any, Any]]) -> Options:
    frozen = tuple(choices)
    return lambda: [(value, str(label)) for value, label in frozen]


def _priorities() -> list[tuple[Any, str]]:
    from aftersales.tickets.models import Ticket
    from aftersales.tickets.services.tickets import PRIORITY_KEYS

    return [(PRIORITY_KEYS[value], str(label)) for value, label in Ticket.Priority.choices]


def _categories() -> list[tuple[Any, str]]:
    from aftersales.tickets.models import TicketStatus

    return [(value, str(label)) for value, label in TicketStatus.Category.choices]


def _channels() -> list[tuple[Any, str]]:
    from aftersales.tickets.models import Ticket

    return [(value, str(label)) for value, label in Ticket.Channel.choices]


def _line_filter(lines: Collection[int] | None, lookup: str) -> Q:
    return Q(**{f"{lookup}__in": list(lines)}) if lines is not None else Q()


def _types(lines: Collection[int] | None) -> Options:
    def options() -> list[tuple[Any, str]]:
        from aftersales.tickets.models import TicketType

        types = TicketType.objects.filter(_line_filter(lines, "business_line_id"))
        return [(t.pk, t.name) for t in types.order_by("business_line_id", "position", "pk")]

    return options


def _statuses(lines: Collection[int] | None) -> Options:
    def options() -> list[tuple[Any, str]]:
        from aftersales.tickets.models import TicketStatus

        statuses = TicketStatus.objects.filter(
            _line_filter(lines, "ticket_type__business_line_id")
        ).select_related("ticket_type")
        ordered = statuses.order_by("ticket_type__position", "ticket_type_id", "position", "pk")
        return [(s.pk, f"{s.ticket_type.name} · {s.name}") for s in ordered]

    return options


def _lines(lines: Collection[int] | None) -> Options:
    def options() -> list[tuple[Any, str]]:
        from aftersales.accounts.models import BusinessLine

        return [
            (line.pk, line.name)
            for line in BusinessLine.objects.filter(_line_filter(lines, "pk")).order_by("name")
        ]

    return options


def _teams(lines: Collection[int] | None) -> Options:
    def options() -> list[tuple[Any, str]]:
        from aftersales.accounts.models import Team

        teams = Team.objects.filter(_line_filter(lines, "business_line_id")).order_by("name")
        return [(team.pk, team.name) for team in teams]

    return options


def _staff() -> list[tuple[Any, str]]:
    from aftersales.accounts.models import User

    people = User.objects.filter(kind=User.Kind.STAFF, is_active=True).order_by("username")
    return [(person.pk, str(person)) for person in people]


def _tiers() -> list[tuple[Any, str]]:
    from aftersales.customers.models import CustomerTier

    return [(tier.key, tier.name) for tier in CustomerTier.objects.order_by("-rank", "key")]


def _weekdays() -> list[tuple[Any, str]]:
    return [(number, str(label)) for number, label in enumerate(ops.WEEKDAY_LABELS, start=1)]


def builtin_ticket_fields(lines: Collection[int] | None = None) -> list[Field]:
    """The fields every ticket has, and those of its customer, the event and the clock."""
    ticket, customer, event, time = TICKET_GROUP, CUSTOMER_GROUP, EVENT_GROUP, TIME_GROUP
    text_only = ("contains_any_words", "contains_no_words")
    return [
        make_field(
            "ticket.subject",
            _("Subject"),
            ops.TEXT,
            cel="ticket.subject",
            present='ticket.subject != ""',
            words='ticket.words["subject"]',
            changeable=True,
            group=ticket,
        ),
        make_field(
            "ticket.description",
            _("Description"),
            ops.TEXT,
            cel="ticket.description",
            present='ticket.description != ""',
            words='ticket.words["description"]',
            changeable=True,
            group=ticket,
        ),
        make_field(
            "ticket.text",
            _("Subject or description"),
            ops.TEXT,
            cel="ticket.text",
            words="ticket.text",
            operators=text_only,
            group=ticket,
        ),
        make_field(
            "ticket.priority",
            _("Priority"),
            ops.CHOICE,
            cel="ticket.priority",
            options=_priorities,
            changeable=True,
            group=ticket,
            operators=("is", "is_not", "in", "not_in", *ops.CHANGE_OPERATORS),
        ),
        make_field(
            "ticket.status",
            _("Status"),
            ops.REFERENCE,
            cel="ticket.status",
            options=_statuses(lines),
            changeable=True,
            group=ticket,
            operators=("is", "is_not", "in", "not_in", *ops.CHANGE_OPERATORS),
        ),
        make_field(
            "ticket.status_category",
            _("Status category"),
            ops.CHOICE,
            cel="ticket.status_category",
            options=_categories,
            changeable=True,
            group=ticket,
            operators=("is", "is_not", "in", "not_in", *ops.CHANGE_OPERATORS),
        ),
        make_field(
            "ticket.type",
            _("Ticket type"),
            ops.REFERENCE,
            cel="ticket.type",
            options=_types(lines),
            changeable=True,
            group=ticket,
            operators=("is", "is_not", "in", "not_in", *ops.CHANGE_OPERATORS),
        ),
        make_field(
            "ticket.business_line",
            _("Business line"),
            ops.REFERENCE,
            cel="ticket.business_line",
            options=_lines(lines),
            group=ticket,
            operators=("is", "is_not", "in", "not_in"),
        ),
        make_field(
            "ticket.channel",
            _("Channel"),
            ops.CHOICE,
            cel="ticket.channel",
            options=_channels,
            group=ticket,
            operators=("is", "is_not", "in", "not_in"),
        ),
        make_field(
            "ticket.team",
            _("Team"),
            ops.REFERENCE,
            cel="ticket.team",
            present="ticket.team != 0",
            options=_teams(lines),
            changeable=True,
            group=ticket,
        ),
        make_field(
            "ticket.assignee",
            _("Assignee"),
            ops.REFERENCE,
            cel="ticket.assignee",
            present="ticket.assignee != 0",
            options=_staff,
            changeable=True,
            group=ticket,
        ),
        make_field(
            "ticket.requester",
            _("Requester (customer id)"),
            ops.REFERENCE,
            cel="ticket.requester",
            changeable=True,
            group=ticket,
            operators=("is", "is_not", "in", "not_in", *ops.CHANGE_OPERATORS),
        ),
        make_field(
            "ticket.organisation",
            _("Organisation (id)"),
            ops.REFERENCE,
            cel="ticket.organisation",
            present="ticket.organisation != 0",
            changeable=True,
            group=ticket,
        ),
        make_field(
            "ticket.tags",
            _("Tags"),
            ops.TAGS,
            cel="ticket.tags",
            present="size(ticket.tags) > 0",
            changeable=True,
            group=ticket,
        ),
        make_field(
            "ticket.created_at",
            _("Created"),
            ops.DATETIME,
            cel="ticket.created_at",
            group=ticket,
            operators=(*ops.OPERATORS_BY_TYPE[ops.DATETIME][:-2],),
        ),
        make_field(
            "ticket.updated_at",
            _("Last updated"),
            ops.DATETIME,
            cel="ticket.updated_at",
            group=ticket,
            operators=(*ops.OPERATORS_BY_TYPE[ops.DATETIME][:-2],),
        ),
        make_field(
            "ticket.due_at",
            _("Due"),
            ops.DATETIME,
            cel="ticket.due_at",
            present="ticket.has_due_at",
            changeable=True,
            group=ticket,
        ),
        make_field(
            "ticket.satisfaction",
            _("Satisfaction rating"),
            ops.NUMBER,
            cel="ticket.satisfaction",
            conversion="double",
            present="ticket.has_satisfaction",
            changeable=True,
            group=ticket,
        ),
        make_field(
            "customer.tier",
            _("Customer tier"),
            ops.CHOICE,
            cel="customer.tier",
            options=_tiers,
            group=customer,
            operators=("is", "is_not", "in", "not_in"),
        ),
        make_field(
            "customer.tags",
            _("Customer tags"),
            ops.TAGS,
            cel="customer.tags",
            present="size(customer.tags) > 0",
            group=customer,
        ),
        make_field(
            "customer.organisation",
            _("Customer's organisation (id)"),
            ops.REFERENCE,
            cel="customer.organisation",
            present="customer.organisation != 0",
            group=customer,
        ),
        make_field(
            "event.type",
            _("What happened"),
            ops.CHOICE,
            cel="event.type",
            options=_static(EVENT_TYPES),
            group=event,
            operators=("is", "is_not", "in", "not_in"),
        ),
        make_field(
            "event.actor_kind",
            _("Done by"),
            ops.CHOICE,
            cel="event.actor_kind",
            options=_static(ACTOR_KINDS),
            group=event,
            operators=("is", "is_not", "in", "not_in"),
        ),
        make_field("now.hour", _("Time of day"), ops.HOUR, cel="now.hour", group=time),
        make_field(
            "now.weekday",
            _("Day of the week"),
            ops.WEEKDAY,
            cel="now.weekday",
            options=_weekdays,
            group=time,
        ),
        make_field(
            "now.in_business_hours",
            _("Within business hours"),
            ops.BOOL,
            cel="now.in_business_hours",
            group=time,
        ),
    ]


# --- Custom fields --------------------------------------------------------------------------

CUSTOM_FIELD_TYPES: dict[str, str] = {
    "text": ops.TEXT,
    "long_text": ops.TEXT,
    "url": ops.TEXT,
    "email": ops.TEXT,
    "phone": ops.TEXT,
    "number": ops.NUMBER,
    "decimal": ops.DECIMAL,
    "date": ops.DATE,
    "datetime": ops.DATETIME,
    "single_choice": ops.CHOICE,
    "multi_choice": ops.MULTI_CHOICE,
    "cascade": ops.CASCADE,
    "user": ops.REFERENCE,
    "team": ops.REFERENCE,
    "customer": ops.REFERENCE,
    "yes_no": ops.BOOL,
}
# Stored values that CEL reads through a conversion: decimals are kept as text for exactness,
# times as ISO text.
CONVERSIONS = {ops.NUMBER: "double", ops.DECIMAL: "double", ops.DATETIME: "timestamp"}
CUSTOM_FIELD_PREFIX = "ticket.cf."


def _option_label(option: Any, language: str) -> str:
    if language.startswith("zh"):
        return str(option.label_zh or option.label_en or option.key)
    return str(option.label_en or option.label_zh or option.key)


def _choice_options(definitions: list[Any]) -> Options:
    def options() -> list[tuple[Any, str]]:
        language = translation.get_language() or "en"
        seen: dict[str, str] = {}
        for definition in definitions:
            for option in definition.parsed_config.options:
                seen.setdefault(option.key, _option_label(option, language))
        return list(seen.items())

    return options


def _cascade_options(definitions: list[Any]) -> Options:
    """Every node as a path ``washer/e3`` labelled ``Washer / E3`` (a node matches its subtree)."""

    def options() -> list[tuple[Any, str]]:
        language = translation.get_language() or "en"
        seen: dict[str, str] = {}

        def visit(nodes: list[Any], keys: list[str], labels: list[str]) -> None:
            for node in nodes:
                path = [*keys, node.key]
                names = [*labels, _option_label(node, language)]
                seen.setdefault("/".join(path), " / ".join(names))
                visit(node.children, path, names)

        for definition in definitions:
            visit(definition.parsed_config.options, [], [])
        return list(seen.items())

    return options


def _reference_options(field_type: str, lines: Collection[int] | None) -> Options | None:
    if field_type == "user":
        return _staff
    if field_type == "team":
        return _teams(lines)
    return None


def _label_of(definition: Any) -> str | Promise:
    """A custom field's label in the language current when it is read."""
    return lazy(lambda: str(definition.label(translation.get_language() or "en")), str)()


def custom_field(definitions: list[Any], lines: Collection[int] | None = None) -> Field:
    """The field of the definitions sharing one key (the first one gives type and label)."""
    first = definitions[0]
    same = [d for d in definitions if d.field_type == first.field_type]
    value_type = CUSTOM_FIELD_TYPES.get(first.field_type, ops.PRESENCE)
    key_literal = literals.string(first.key)
    options: Options | None = None
    if value_type in {ops.CHOICE, ops.MULTI_CHOICE}:
        options = _choice_options(same)
    elif value_type == ops.CASCADE:
        options = _cascade_options(same)
    elif value_type == ops.REFERENCE:
        options = _reference_options(first.field_type, lines)
    return make_field(
        f"{CUSTOM_FIELD_PREFIX}{first.key}",
        _label_of(first),
        value_type,
        cel=f"ticket.cf[{key_literal}]",
        conversion=CONVERSIONS.get(value_type, ""),
        present=f"{key_literal} in ticket.cf",
        words=f"ticket.words[{literals.string('cf.' + first.key)}]",
        options=options,
        changeable=True,
        group=CUSTOM_GROUP,
    )


def custom_ticket_fields(lines: Collection[int] | None = None) -> list[Field]:
    """Custom fields of tickets: those for every type, and those of the active ticket types
    of ``lines`` (all lines when ``None``), one field per key in form order."""
    from aftersales.customfields.models import FieldDefinition
    from aftersales.tickets.models import TicketType, form_key_of

    types = TicketType.objects.filter(is_active=True).filter(
        _line_filter(lines, "business_line_id")
    )
    subtargets = ["", *(form_key_of(pk) for pk in types.values_list("pk", flat=True))]
    definitions = FieldDefinition.objects.filter(
        target="tickets.ticket", subtarget__in=subtargets, is_active=True
    ).order_by("section", "subtarget", "position", "pk")
    by_key: dict[str, list[Any]] = {}
    for definition in definitions:
        by_key.setdefault(definition.key, []).append(definition)
    return [custom_field(group, lines) for group in by_key.values()]


def ticket_catalog(*, business_line_ids: Collection[int] | None = None) -> Catalog:
    """Built-in fields plus custom fields of the active ticket types of those lines
    (``None``: every line)."""
    lines = list(business_line_ids) if business_line_ids is not None else None
    return Catalog(
        [*builtin_ticket_fields(lines), *custom_ticket_fields(lines)],
        environment=environment.TICKET,
    )
