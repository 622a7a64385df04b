"""Forms of the agent workspace: the inbox filter bar and bulk actions, a new ticket, the
properties panel, replies and notes, links, merge and split.

The filter bar only collects what was typed: :func:`aftersales.tickets.filtering.clean_filters`
judges it, so the inbox, saved views and the API refuse the same input with the same words.
Custom fields come from the form engine (:class:`CustomFieldsForm`); a cascading choice is
shown as one select per level (:func:`cascade_levels`) and joined back into the engine's
``a/b/c`` form before binding (:func:`join_cascade_levels`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django import forms
from django.forms.utils import ErrorDict
from django.http import QueryDict
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import Team, User
from aftersales.core.forms import choice_field, model_field
from aftersales.customers.models import Customer
from aftersales.customfields.errors import InvalidValue
from aftersales.customfields.forms import FORM_PREFIX, CustomFieldsForm, form_name
from aftersales.customfields.models import FieldDefinition
from aftersales.customfields.registry import is_empty
from aftersales.tickets.models import Ticket, TicketLink, TicketStatus, TicketType

Category = TicketStatus.Category
# Chinese (full-width) commas and semicolons separate tags too.
_TAG_SEPARATORS = re.compile(r"[,，;；\n]+")
LEVEL_SUFFIX = "__"
# Custom-field types the filter bar offers, and how: a select of options or a text input.
CHOICE_FILTERS = frozenset({"single_choice", "multi_choice", "cascade"})
TEXT_FILTERS = frozenset({"text", "number", "email", "phone", "url"})


def split_tags(text: str | None) -> list[str]:
    """Tags typed as one line: separated by commas (either width), semicolons or new lines."""
    return [tag.strip() for tag in _TAG_SEPARATORS.split(text or "") if tag.strip()]


def silence(form: forms.Form) -> None:
    """Show a bound form as typed without judging it: a live re-render while someone is
    still filling it in must not shout "required" at fields they have not reached."""
    # Django runs full_clean only while _errors is None.
    form._errors = ErrorDict()  # type: ignore[attr-defined]
    form.cleaned_data = {}


def _language() -> str:
    return translation.get_language() or "en"


# --- Inbox ------------------------------------------------------------------------------


class ListField(forms.Field):
    """Several values of one query-string key, kept as typed (the filter engine checks them)."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, *, choices: Sequence[tuple[str, Any]], **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)
        self.widget.choices = list(choices)

    def to_python(self, value: Any) -> list[str]:
        if not value:
            return []
        if isinstance(value, str):
            return [value]
        return [str(item) for item in value]


class TextChoiceField(forms.CharField):
    """A select whose value is checked later (by the filter engine), not against its options."""

    def __init__(self, *, choices: Sequence[tuple[str, Any]], **kwargs: Any) -> None:
        super().__init__(required=False, widget=forms.Select(choices=list(choices)), **kwargs)


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"})


class FilterForm(forms.Form):
    """The inbox filter bar. Field names are the keys of :mod:`aftersales.tickets.filtering`
    (custom fields as ``cf.<key>``), so a URL of the inbox reads like an API query."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Number or subject"),
                "data-shortcut": "search",
            }
        ),
    )
    created_after = forms.CharField(label=_("Created from"), required=False, widget=_date_input())
    created_before = forms.CharField(
        label=_("Created before"), required=False, widget=_date_input()
    )
    due_before = forms.CharField(label=_("Due before"), required=False, widget=_date_input())
    tag = forms.CharField(label=_("Tag"), required=False)

    def __init__(
        self,
        data: QueryDict | None,
        *,
        ticket_types: Iterable[Any],
        teams: Iterable[Any],
        people: Iterable[Any],
        tiers: Iterable[Any],
        custom_fields: Iterable[FieldDefinition] = (),
    ) -> None:
        super().__init__(data)
        any_choice = ("", _("Any"))
        self.fields["status_category"] = ListField(label=_("Status"), choices=Category.choices)
        self.fields["priority"] = ListField(
            label=_("Priority"),
            choices=[
                ("urgent", _("Urgent")),
                ("high", _("High")),
                ("normal", _("Normal")),
                ("low", _("Low")),
            ],
        )
        self.fields["ticket_type"] = TextChoiceField(
            label=_("Type"),
            choices=[any_choice, *((str(t.pk), _type_label(t)) for t in ticket_types)],
        )
        self.fields["team"] = TextChoiceField(
            label=_("Team"),
            choices=[
                any_choice,
                ("mine", _("My teams")),
                ("none", _("No team")),
                *((str(t.pk), t.name) for t in teams),
            ],
        )
        self.fields["assignee"] = TextChoiceField(
            label=_("Assignee"),
            choices=[
                any_choice,
                ("me", _("Me")),
                ("none", _("Nobody")),
                *((str(p.pk), str(p)) for p in people),
            ],
        )
        self.fields["tier"] = TextChoiceField(
            label=_("Customer tier"), choices=[any_choice, *((t.key, t.name) for t in tiers)]
        )
        self.custom_names: list[str] = []
        for definition in custom_fields:
            field = _custom_filter_field(definition)
            if field is not None:
                name = f"cf.{definition.key}"
                self.fields[name] = field
                self.custom_names.append(name)
        self.order_fields(
            [
                "q",
                "status_category",
                "priority",
                "ticket_type",
                "team",
                "assignee",
                "tier",
                "tag",
                "created_after",
                "created_before",
                "due_before",
            ]
        )

    def raw_filters(self) -> dict[str, list[str]]:
        """What was typed into the bar, key by key, for ``clean_filters``."""
        data = self.data
        if not isinstance(data, QueryDict):
            return {}
        raw: dict[str, list[str]] = {}
        for name in self.fields:
            values = [v for v in data.getlist(name) if v.strip()]
            if values:
                raw[name] = values
        return raw

    def main_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("q", "status_category", "priority", "ticket_type")]

    def more_fields(self) -> list[forms.BoundField]:
        shown = {"q", "status_category", "priority", "ticket_type"}
        return [self[name] for name in self.fields if name not in shown]

    def is_narrowed(self) -> bool:
        return bool(self.raw_filters())


def _type_label(ticket_type: Any) -> str:
    return f"{ticket_type.name} · {ticket_type.business_line.name}"


class TypeChoiceField(forms.ModelChoiceField[TicketType]):
    """Ticket types named with their business line (two lines may both have "Repair")."""

    def label_from_instance(self, obj: TicketType) -> str:
        return _type_label(obj)


def _option_label(option: Any, language: str) -> str:
    if language.lower().startswith("zh"):
        return str(option.label_zh or option.label_en or option.key)
    return str(option.label_en or option.label_zh or option.key)


def _custom_filter_field(definition: FieldDefinition) -> forms.Field | None:
    label = definition.label(_language())
    if definition.field_type in CHOICE_FILTERS:
        config = definition.parsed_config
        choices: list[tuple[str, str]] = [("", str(_("Any")))]
        language = _language()

        def visit(nodes: Sequence[Any], depth: int) -> None:
            for node in nodes:
                choices.append((node.key, "  " * depth + _option_label(node, language)))
                visit(getattr(node, "children", []) or [], depth + 1)

        visit(config.options, 0)
        return TextChoiceField(label=label, choices=choices)
    if definition.field_type in TEXT_FILTERS:
        return forms.CharField(label=label, required=False)
    return None


BULK_ASSIGN = "assign"
BULK_STATUS = "status"
BULK_TAGS = "tags"
BULK_MERGE = "merge"


class BulkForm(forms.Form):
    """One action on the tickets ticked in the inbox."""

    action = forms.ChoiceField(
        choices=[
            (BULK_ASSIGN, _("Assign")),
            (BULK_STATUS, _("Set status")),
            (BULK_TAGS, _("Add tags")),
            (BULK_MERGE, _("Merge")),
        ]
    )
    ticket = forms.TypedMultipleChoiceField(coerce=int, required=False)
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    category = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", "—"), *((c.value, c.label) for c in Category if c != Category.NEW)],
    )
    tags = forms.CharField(label=_("Tags"), required=False, max_length=500)
    survivor = forms.IntegerField(required=False, widget=forms.RadioSelect)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self, data: Any = None, *, people: Iterable[Any], ticket_ids: Iterable[int] = ()
    ) -> None:
        super().__init__(data)
        choice_field(self, "assignee").choices = [
            ("", "—"),
            ("none", _("Nobody (unassign)")),
            *((str(p.pk), str(p)) for p in people),
        ]
        ids = list(ticket_ids)
        if data is not None:
            ids += [int(v) for v in data.getlist("ticket") if v.isdigit()]
        choice_field(self, "ticket").choices = [(pk, pk) for pk in ids]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        tickets = data.get("ticket") or []
        if not tickets:
            self.add_error("ticket", _("Tick at least one ticket."))
        if action == BULK_ASSIGN and not data.get("assignee"):
            self.add_error("assignee", _("Choose who gets the tickets."))
        elif action == BULK_STATUS and not data.get("category"):
            self.add_error("category", _("Choose a status."))
        elif action == BULK_TAGS:
            data["tag_list"] = split_tags(data.get("tags"))
            if not data["tag_list"]:
                self.add_error("tags", _("Enter at least one tag."))
        elif action == BULK_MERGE and len(tickets) < 2:
            self.add_error("ticket", _("Tick at least two tickets to merge."))
        return data


class SaveViewForm(forms.Form):
    """Keep the inbox's current filters (as the query string has them) under a name."""

    name = forms.CharField(label=_("Name of the view"), max_length=120)
    is_shared = forms.BooleanField(label=_("Share with everyone"), required=False)
    filters = forms.CharField(widget=forms.HiddenInput, required=False)
    sort = forms.CharField(widget=forms.HiddenInput, required=False, max_length=40)
    next = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, data: Any = None, *, may_share: bool, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        if not may_share:
            del self.fields["is_shared"]

    def clean_filters(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("filters") or "{}"
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The filters could not be read. Filter again."))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data.setdefault("is_shared", False)
        return data


# --- Custom fields: cascades as one select per level --------------------------------------


def cascade_levels(definition: FieldDefinition, path: Sequence[str], name: str) -> list[dict]:
    """The selects of a cascading choice: the first level, then one more level below every
    chosen option that has children. Each select is named ``<name>__<level>``."""
    language = _language()
    levels: list[dict[str, Any]] = []
    nodes = list(definition.parsed_config.options)
    depth = 0
    while nodes:
        chosen = path[depth] if depth < len(path) else ""
        levels.append(
            {
                "name": f"{name}{LEVEL_SUFFIX}{depth}",
                "id": f"id_{name}{LEVEL_SUFFIX}{depth}",
                "level": depth + 1,
                "options": [(node.key, _option_label(node, language)) for node in nodes],
                "chosen": chosen,
            }
        )
        node = next((n for n in nodes if n.key == chosen), None)
        if node is None:
            break
        nodes = list(node.children)
        depth += 1
    return levels


def join_cascade_levels(data: QueryDict, definitions: Iterable[FieldDefinition]) -> QueryDict:
    """A copy of ``data`` where the per-level selects of each cascade are joined into the one
    value the form engine reads (``cf_region`` = ``gd/sz``). A level whose option is not a child
    of the level above (the person changed a higher level) ends the path there."""
    joined = data.copy()
    for definition in definitions:
        if definition.field_type != "cascade":
            continue
        name = form_name(definition.key)
        if f"{name}{LEVEL_SUFFIX}0" not in data:
            continue
        path: list[str] = []
        nodes = list(definition.parsed_config.options)
        depth = 0
        while nodes:
            chosen = data.get(f"{name}{LEVEL_SUFFIX}{depth}", "")
            node = next((n for n in nodes if n.key == chosen), None)
            if node is None:
                break
            path.append(node.key)
            nodes = list(node.children)
            depth += 1
        joined.setlist(name, ["/".join(path)] if path else [""])
    return joined


def loosen_cascades(form: CustomFieldsForm) -> None:
    """Let a cascade's value through as text so the engine judges it: an unfinished path then
    gets "Choose down to the last level." rather than an unknown-choice error."""
    for name, field in list(form.fields.items()):
        definition = form.definitions.get(name.removeprefix(FORM_PREFIX))
        if definition is None or definition.field_type != "cascade":
            continue
        loose = forms.CharField(
            label=field.label,
            help_text=field.help_text,
            required=field.required,
            disabled=field.disabled,
        )
        loose.initial = field.initial
        form.fields[name] = loose


def custom_field_sections(
    form: CustomFieldsForm, needed: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """The shown custom fields by section, each with its per-level selects when it is a
    cascade and whether the chosen status change needs it."""
    needed_keys = set(needed)
    sections = []
    for section in form.sections():
        rows = []
        for bound in section["fields"]:
            key = bound.name.removeprefix(FORM_PREFIX)
            definition = form.definitions[key]
            levels = None
            if definition.field_type == "cascade":
                value = bound.value()
                path = (
                    value
                    if isinstance(value, list)
                    else [p for p in str(value or "").split("/") if p]
                )
                levels = cascade_levels(definition, path, bound.html_name)
            rows.append({"field": bound, "levels": levels, "needed": key in needed_keys})
        sections.append({"label": section["label"], "rows": rows})
    return sections


def normalised(definition: FieldDefinition, value: Any) -> Any:
    """A submitted value in stored form, to tell whether the person changed it."""
    if is_empty(value):
        return None
    try:
        return definition.handler.clean(value, definition.parsed_config)
    except InvalidValue:
        return value


# --- A new ticket ---------------------------------------------------------------------------


class TicketForm(forms.Form):
    """The built-in fields of a new ticket; the type's custom fields come in their own form."""

    ticket_type = TypeChoiceField(
        label=_("Type"), queryset=TicketType.objects.none(), empty_label="—"
    )
    requester = forms.ModelChoiceField(
        label=_("Requester"),
        queryset=Customer.objects.none(),
        error_messages={"invalid_choice": _("Choose a customer you can see.")},
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"), coerce=int, choices=Ticket.Priority.choices, initial=2
    )
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=1000, help_text=_("Separate with commas.")
    )

    def __init__(
        self,
        data: Any = None,
        *,
        ticket_types: Any,
        customers: Any,
        teams: Any,
        people: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(data, **kwargs)
        model_field(self, "ticket_type").queryset = ticket_types
        model_field(self, "requester").queryset = customers
        model_field(self, "team").queryset = teams
        model_field(self, "assignee").queryset = people


# --- The properties of a ticket -------------------------------------------------------------


class PropertiesForm(forms.Form):
    """What an agent changes in the side panel. ``loaded`` carries, signed, the values the page
    showed; only what the person changed against those is sent to the service."""

    status = forms.ChoiceField(label=_("Status"), required=False)
    priority = forms.TypedChoiceField(
        label=_("Priority"), coerce=int, choices=Ticket.Priority.choices
    )
    ticket_type = TypeChoiceField(
        label=_("Type"), queryset=TicketType.objects.none(), empty_label=None
    )
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=1000, help_text=_("Separate with commas.")
    )
    followers = forms.ModelMultipleChoiceField(
        label=_("Followers"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )
    due_at = forms.DateTimeField(
        label=_("Due"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    loaded = forms.CharField(widget=forms.HiddenInput)

    def __init__(
        self,
        data: Any = None,
        *,
        transitions: Sequence[Any],
        current_status: TicketStatus,
        ticket_types: Any,
        teams: Any,
        people: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(data, **kwargs)
        self.transitions = {str(t.to_status_id): t for t in transitions}
        choice_field(self, "status").choices = [
            ("", _("%(status)s (no change)") % {"status": current_status.name}),
            *((str(t.to_status_id), f"→ {t.label}") for t in transitions),
        ]
        model_field(self, "ticket_type").queryset = ticket_types
        model_field(self, "team").queryset = teams
        model_field(self, "assignee").queryset = people
        model_field(self, "followers").queryset = people

    def chosen_transition(self) -> Any:
        value = self.data.get("status", "") if self.is_bound else ""
        return self.transitions.get(str(value))


# --- Conversation ---------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input (the form checks each; the service checks size and type)."""

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


PUBLIC = "public"
INTERNAL = "internal"


class CommentForm(forms.Form):
    """A public reply or an internal note, with files."""

    body = forms.CharField(
        label=_("Message"),
        widget=forms.Textarea(attrs={"rows": 5, "data-shortcut": "message"}),
        error_messages={"required": _("Write a message.")},
    )
    visibility = forms.ChoiceField(label=_("Send as"), widget=forms.RadioSelect, initial=PUBLIC)
    attachments = MultipleFileField(label=_("Files"), required=False)
    # Knowledge articles put into the message from the suggestions ("12:link,15:text").
    inserted_articles = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)

    def __init__(self, data: Any = None, files: Any = None, *, kinds: Sequence[str]) -> None:
        super().__init__(data, files)
        labels = {PUBLIC: _("Public reply"), INTERNAL: _("Internal note")}
        choice_field(self, "visibility").choices = [(k, labels[k]) for k in kinds]
        if kinds:
            self.fields["visibility"].initial = kinds[0]


class LinkForm(forms.Form):
    number = forms.CharField(label=_("Ticket number"), max_length=32)
    kind = forms.ChoiceField(label=_("Kind"), choices=TicketLink.Kind.choices)


class MergeIntoForm(forms.Form):
    number = forms.CharField(
        label=_("Merge this ticket into"),
        max_length=32,
        help_text=_("The number of the ticket that continues the conversation."),
    )


class SplitForm(forms.Form):
    subject = forms.CharField(label=_("Subject of the new ticket"), max_length=200)


def tags_text(tags: Iterable[str]) -> str:
    return ", ".join(tags)


def changed_custom_values(
    submitted: Mapping[str, Any],
    loaded: Mapping[str, Any],
    definitions: Mapping[str, FieldDefinition],
) -> dict[str, Any]:
    """The custom-field values the person changed against what their page showed."""
    changed = {}
    for key, value in submitted.items():
        definition = definitions.get(key)
        new = normalised(definition, value) if definition is not None else value
        if new != loaded.get(key):
            changed[key] = value
    return changed


def custom_values_valid(
    custom: CustomFieldsForm, ticket_type: TicketType | None, actor: Any, audience: str
) -> bool:
    """Check a type's fields with the form engine now, so their errors show together with
    those of the other fields (the service checks them again when the ticket is created)."""
    from aftersales.customfields import services as customfields
    from aftersales.customfields.errors import FieldErrors
    from aftersales.tickets.models import form_key_of

    if ticket_type is None:
        return True
    try:
        customfields.clean_values(
            target="tickets.ticket",
            subtarget=form_key_of(ticket_type.pk),
            values=custom.submitted_values(),
            existing=None,
            actor=actor,
            audience=audience,  # type: ignore[arg-type]
        )
    except FieldErrors as error:
        custom.add_field_errors(error)
        return False
    return True
