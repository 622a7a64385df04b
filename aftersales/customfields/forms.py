"""Forms: the custom fields of an object as Django form fields (for the pages of customers and
tickets), and the settings form that defines one field."""

from __future__ import annotations

import json
import types as pytypes
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from django import forms
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import catalog
from aftersales.customfields import registry, services
from aftersales.customfields.errors import FieldErrors
from aftersales.customfields.models import FieldDefinition

FORM_PREFIX = "cf_"


def form_name(key: str) -> str:
    return f"{FORM_PREFIX}{key}"


def _language() -> str:
    return translation.get_language() or "en"


def _fields(
    definitions: Iterable[FieldDefinition],
    values: Mapping[str, Any],
    audience: services.Audience,
    actor: Any,
    *,
    apply_visibility: bool,
) -> dict[str, forms.Field]:
    active = {d.key: d for d in definitions if d.is_active}
    shown = services.visibility(active, values)
    language = _language()
    fields: dict[str, forms.Field] = {}
    for key, definition in active.items():
        if apply_visibility and not shown[key]:
            continue
        if audience == "customer" and not definition.customer_visible:
            continue
        editable = services.may_edit(definition, actor=actor, audience=audience)
        handler, config = definition.handler, definition.parsed_config
        field = handler.form_field(
            config,
            label=definition.label(language),
            help_text=definition.help(language),
            required=apply_visibility and definition.is_required and editable,
        )
        value = values.get(key)
        if not registry.is_empty(value):
            field.initial = handler.to_form(value, config)
        field.disabled = not editable
        fields[form_name(key)] = field
    return fields


def build_form_fields(
    definitions: Iterable[FieldDefinition],
    values: Mapping[str, Any] | None,
    audience: services.Audience = "staff",
    *,
    actor: Any = None,
) -> dict[str, forms.Field]:
    """Form fields (named ``cf_<key>``) for the fields shown with ``values``.

    Hidden fields are left out; fields the person may not edit are disabled (Django then keeps
    their initial value). Re-render on change (htmx) to apply the visibility conditions.
    """
    return _fields(definitions, values or {}, audience, actor, apply_visibility=True)


class CustomFieldsForm(forms.Form):
    """The custom fields of one object, ready to embed in a page's own form.

    Usage: bind it, call :meth:`submitted_values`, pass them to ``services.clean_values`` and,
    on :class:`FieldErrors`, :meth:`add_field_errors`.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        definitions: Iterable[FieldDefinition],
        values: Mapping[str, Any] | None = None,
        audience: services.Audience = "staff",
        actor: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data, **kwargs)
        self.definitions = {d.key: d for d in definitions}
        self.audience: services.Audience = audience
        self.actor = actor
        values = dict(values or {})
        if data is not None:
            # Visibility follows what was just typed, not what was stored.
            values.update(self._parse_all(data, values))
        self.current_values = values
        self.fields.update(
            build_form_fields(self.definitions.values(), values, audience, actor=actor)
        )

    def _parse_all(self, data: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        probe = forms.Form(data)
        probe.fields.update(
            _fields(
                self.definitions.values(), values, self.audience, self.actor, apply_visibility=False
            )
        )
        probe.is_valid()
        parsed: dict[str, Any] = {}
        for name, value in probe.cleaned_data.items():
            key = name.removeprefix(FORM_PREFIX)
            if probe.fields[name].disabled:
                continue
            definition = self.definitions[key]
            parsed[key] = definition.handler.from_form(value, definition.parsed_config)
        return parsed

    def sections(self) -> list[dict[str, Any]]:
        """The shown fields grouped by their definition's section, in form order."""
        groups: list[dict[str, Any]] = []
        for name in self.fields:
            section = self.definitions[name.removeprefix(FORM_PREFIX)].section
            if not groups or groups[-1]["label"] != section:
                groups.append({"label": section, "fields": []})
            groups[-1]["fields"].append(self[name])
        return groups

    def submitted_values(self) -> dict[str, Any]:
        """What the person sent for the editable fields shown (empty ones as None)."""
        self.is_valid()
        result: dict[str, Any] = {}
        for name, field in self.fields.items():
            if field.disabled or name not in self.cleaned_data:
                continue
            definition = self.definitions[name.removeprefix(FORM_PREFIX)]
            value = definition.handler.from_form(self.cleaned_data[name], definition.parsed_config)
            result[definition.key] = None if registry.is_empty(value) else value
        return result

    def add_field_errors(self, error: FieldErrors) -> None:
        """Put each refused value next to its field (or above the form if it is not shown)."""
        for field_error in error.field_errors:
            name = form_name(field_error.key)
            if name in self.fields:
                if not self.has_error(name):
                    self.add_error(name, field_error.message)
            else:
                self.add_error(None, f"{field_error.key}: {field_error.message}")


# --- The settings form of one definition ---------------------------------------------------


def _literal_choices(annotation: Any) -> list[tuple[str, str]] | None:
    if typing.get_origin(annotation) is Literal:
        return [(str(a), str(a)) for a in typing.get_args(annotation)]
    return None


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, pytypes.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def format_options(options: list[dict[str, Any]]) -> str:
    """Options as ``key|中文|English`` lines (``|inactive`` marks a retired option)."""
    lines = []
    for option in options:
        line = f"{option['key']}|{option.get('label_zh', '')}|{option.get('label_en', '')}"
        if option.get("is_active") is False:
            line += "|inactive"
        lines.append(line)
    return "\n".join(lines)


def parse_options(text: str) -> list[dict[str, Any]]:
    options = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.strip().split("|")]
        if len(parts) < 1 or not parts[0] or len(parts) > 4:
            raise forms.ValidationError(
                _("Line %(line)s: write key|中文|English."), params={"line": number}
            )
        option: dict[str, Any] = {
            "key": parts[0],
            "label_zh": parts[1] if len(parts) > 1 else "",
            "label_en": parts[2] if len(parts) > 2 else "",
        }
        if len(parts) > 3 and parts[3].lower() == "inactive":
            option["is_active"] = False
        options.append(option)
    return options


def format_tree(nodes: list[dict[str, Any]], depth: int = 0) -> str:
    """A cascade tree as indented ``key|中文|English`` lines, two spaces per level."""
    lines = []
    for node in nodes:
        lines.append(
            "  " * depth + f"{node['key']}|{node.get('label_zh', '')}|{node.get('label_en', '')}"
        )
        if node.get("children"):
            lines.append(format_tree(node["children"], depth + 1))
    return "\n".join(lines)


def parse_tree(text: str) -> list[dict[str, Any]]:
    roots: list[dict[str, Any]] = []
    stack: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        expanded = line.replace("\t", "  ")
        depth = (len(expanded) - len(expanded.lstrip(" "))) // 2
        if depth > (stack[-1][0] + 1 if stack else 0):
            raise forms.ValidationError(
                _("Line %(line)s is indented more than one level below the line above."),
                params={"line": number},
            )
        (node,) = parse_options(expanded.strip())
        node.pop("is_active", None)
        node["children"] = []
        while stack and stack[-1][0] >= depth:
            stack.pop()
        (stack[-1][1]["children"] if stack else roots).append(node)
        stack.append((depth, node))
    return roots


OPERATOR_CHOICES = [
    ("", "—"),
    ("equals", _("equals")),
    ("not_equals", _("does not equal")),
    ("in", _("is one of (comma-separated)")),
    ("not_empty", _("is filled in")),
    ("empty", _("is empty")),
]


class DefinitionForm(forms.Form):
    """One field's definition. Type-specific inputs come from the type's config model."""

    target = forms.ChoiceField(label=_("Applies to"))
    subtarget = forms.CharField(
        label=_("Only for"),
        required=False,
        max_length=100,
        help_text=_("A ticket type key, for example. Leave empty for all."),
    )
    key = forms.CharField(
        label=_("Key"),
        max_length=63,
        help_text=_("Used in the API and in stored values; cannot change later."),
    )
    label_zh = forms.CharField(label=_("Label (Chinese)"), max_length=200, required=False)
    label_en = forms.CharField(label=_("Label (English)"), max_length=200, required=False)
    help_zh = forms.CharField(label=_("Help text (Chinese)"), max_length=500, required=False)
    help_en = forms.CharField(label=_("Help text (English)"), max_length=500, required=False)
    section = forms.CharField(label=_("Section"), max_length=100, required=False)
    is_required = forms.BooleanField(label=_("Required"), required=False)
    default = forms.CharField(
        label=_("Default"),
        required=False,
        help_text=_("Lists: separate with commas; cascades with '/'; other values as JSON."),
    )
    edit_permission = forms.ChoiceField(
        label=_("Only people with this permission may edit it"), required=False
    )
    customer_visible = forms.BooleanField(label=_("The customer sees it"), required=False)
    customer_editable = forms.BooleanField(label=_("The customer fills it"), required=False)
    condition_field = forms.ChoiceField(label=_("Show only when field"), required=False)
    condition_op = forms.ChoiceField(label=_("Condition"), required=False, choices=OPERATOR_CHOICES)
    condition_value = forms.CharField(label=_("Value"), required=False, max_length=500)
    visible_when_json = forms.CharField(
        label=_("Or a combined condition (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('For example {"any": [{"field": "kind", "op": "equals", "value": "repair"}]}'),
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        field_type: registry.FieldType,
        definition: FieldDefinition | None = None,
        condition_fields: Iterable[FieldDefinition] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(data, **kwargs)
        self.field_type = field_type
        self.definition = definition
        self.condition_definitions = {d.key: d for d in condition_fields}
        language = _language()
        self.fields["target"].choices = [  # type: ignore[attr-defined]
            (t.key, t.label) for t in registry.targets().values()
        ]
        self.fields["edit_permission"].choices = [  # type: ignore[attr-defined]
            ("", _("Anyone who may edit the object")),
            *((c, f"{p.group} · {p.label} ({c})") for c, p in catalog.all_permissions().items()),
        ]
        self.fields["condition_field"].choices = [  # type: ignore[attr-defined]
            ("", "—"),
            *(
                (d.key, f"{d.label(language)} ({d.key})")
                for d in self.condition_definitions.values()
            ),
        ]
        self.config_names: list[str] = []
        for name, info in field_type.config_model.model_fields.items():
            self.fields[f"config_{name}"] = self._config_field(name, info)
            self.config_names.append(f"config_{name}")
        if definition is not None:
            for name in ("target", "subtarget", "key"):
                self.fields[name].disabled = True
            self.initial.update(self._initial_from(definition))

    def config_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.config_names]

    def _config_field(self, name: str, info: Any) -> forms.Field:
        annotation = _strip_optional(info.annotation)
        label = name.replace("_", " ").capitalize()
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if name == "options":
            help_text = (
                _("One per line, two spaces deeper per level: key|中文|English.")
                if self.field_type.key == "cascade"
                else _("One per line: key|中文|English. Append |inactive to retire one.")
            )
            return forms.CharField(
                label=_("Options"),
                widget=forms.Textarea(attrs={"rows": 8}),
                help_text=help_text,
                required=info.is_required(),
            )
        if annotation is bool:
            return forms.BooleanField(label=label, required=False, initial=default)
        choices = _literal_choices(annotation)
        if choices:
            return forms.ChoiceField(label=label, choices=choices, initial=default)
        if typing.get_origin(annotation) is list:
            (inner,) = typing.get_args(annotation)
            inner_choices = _literal_choices(inner)
            if inner_choices:
                return forms.MultipleChoiceField(
                    label=label,
                    choices=inner_choices,
                    initial=default,
                    required=False,
                    widget=forms.CheckboxSelectMultiple,
                )
        hint: Any = _("Default: %(default)s") % {"default": default} if default is not None else ""
        return forms.CharField(label=label, required=False, help_text=hint, max_length=500)

    def _initial_from(self, definition: FieldDefinition) -> dict[str, Any]:
        initial: dict[str, Any] = {
            name: getattr(definition, name)
            for name in (
                "target",
                "subtarget",
                "key",
                "label_zh",
                "label_en",
                "help_zh",
                "help_en",
                "section",
                "is_required",
                "edit_permission",
                "customer_visible",
                "customer_editable",
            )
        }
        default = definition.default
        if default is not None:
            if self.field_type.key == "cascade":
                initial["default"] = "/".join(default)
            elif isinstance(default, list):
                initial["default"] = ", ".join(str(item) for item in default)
            elif isinstance(default, str):
                initial["default"] = default
            else:
                initial["default"] = json.dumps(default, ensure_ascii=False)
        condition = definition.visible_when or {}
        if "field" in condition:
            initial["condition_field"] = condition["field"]
            initial["condition_op"] = condition["op"]
            value = condition.get("value")
            if isinstance(value, list):
                initial["condition_value"] = ", ".join(str(v) for v in value)
            elif value is not None:
                initial["condition_value"] = (
                    str(value).lower() if isinstance(value, bool) else value
                )
        elif condition:
            initial["visible_when_json"] = json.dumps(condition, ensure_ascii=False)
        for name, value in (definition.config or {}).items():
            if name == "options":
                value = (
                    format_tree(value)
                    if self.field_type.key == "cascade"
                    else format_options(value)
                )
            initial[f"config_{name}"] = value
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        config: dict[str, Any] = {}
        for name in self.config_names:
            value = data.get(name)
            option = name.removeprefix("config_")
            if option == "options" and isinstance(value, str) and value.strip():
                try:
                    value = (
                        parse_tree(value)
                        if self.field_type.key == "cascade"
                        else parse_options(value)
                    )
                except forms.ValidationError as error:
                    self.add_error(name, error)
                    continue
            if value in (None, "", []):
                continue
            config[option] = value
        data["config"] = config
        data["visible_when"] = self._condition(data)
        raw_default = (data.get("default") or "").strip()
        data["default"] = self.field_type.value_from_text(raw_default) if raw_default else None
        return data

    def _condition(self, data: dict[str, Any]) -> Any:
        key, op = data.get("condition_field"), data.get("condition_op")
        if key or op:
            if not key or not op:
                self.add_error("condition_op", _("Choose both a field and a condition."))
                return None
            condition: dict[str, Any] = {"field": key, "op": op}
            if op in registry.PRESENCE_OPERATORS:
                return condition
            raw = (data.get("condition_value") or "").strip()
            referenced = self.condition_definitions[key].handler
            parse = (lambda text: text) if referenced.is_multiple else referenced.value_from_text
            if op == "in":
                condition["value"] = [parse(p.strip()) for p in raw.split(",") if p.strip()]
            else:
                condition["value"] = parse(raw)
            return condition
        text = (data.get("visible_when_json") or "").strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            self.add_error("visible_when_json", _("This is not valid JSON."))
            return None

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        arguments = {
            name: data[name]
            for name in (
                "label_zh",
                "label_en",
                "help_zh",
                "help_en",
                "section",
                "is_required",
                "default",
                "edit_permission",
                "customer_visible",
                "customer_editable",
                "config",
                "visible_when",
            )
        }
        if self.definition is None:
            arguments.update(
                target=data["target"],
                subtarget=data["subtarget"],
                key=data["key"],
                field_type=self.field_type.key,
            )
        return arguments


def condition_candidates(
    target: str, subtarget: str, exclude: FieldDefinition | None = None
) -> list[FieldDefinition]:
    """The fields a condition of a field on (target, subtarget) may read."""
    return [
        d
        for d in services.definitions_for(target, subtarget or None)
        if (exclude is None or d.pk != exclude.pk)
        and (d.subtarget == "" or d.subtarget == subtarget)
    ]


def describe_condition(condition: Any, labels: Mapping[str, str]) -> str:
    """A condition in words, for the list page."""
    if not condition:
        return ""
    for group, joiner in (("all", _(" and ")), ("any", _(" or "))):
        if group in condition:
            return str(joiner).join(
                f"({describe_condition(part, labels)})" for part in condition[group]
            )
    operator = dict(OPERATOR_CHOICES).get(condition.get("op", ""), condition.get("op"))
    text = f"{labels.get(condition['field'], condition['field'])} {operator}"
    if "value" in condition:
        value = condition["value"]
        text += " " + (", ".join(map(str, value)) if isinstance(value, list) else str(value))
    return text
