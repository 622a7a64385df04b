"""Use cases of custom fields: managing definitions, and the engine other apps call.

Writes (``create_definition``…) check the permission, validate, write, audit and emit in one
transaction. The engine (``definitions_for``, ``clean_values``, ``render_values``) is what
customers and tickets call to validate and show the values in their ``custom_fields`` column.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import authz, catalog
from aftersales.audit import services as audit
from aftersales.audit.models import AuditEntry
from aftersales.core.errors import Conflict, DomainError
from aftersales.customfields import conditions, registry
from aftersales.customfields.errors import FieldError, FieldErrors, InvalidValue, field_path
from aftersales.customfields.models import KEY_VALIDATOR, FieldDefinition, FieldDefinitionVersion
from aftersales.outbox import services as outbox

logger = logging.getLogger(__name__)

Audience = Literal["staff", "customer"]
SUBTARGET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
POSITION_STEP = 10
SECTION_MAX_LENGTH = 100
# Adding, changing, reordering and removing fields are one capability: shaping the forms.
CONFIGURE = "customfields.configure_fielddefinition"
VIEW = "customfields.view_fielddefinition"

# What update_definition may change. Target, subtarget, key and type name the stored values.
EDITABLE = (
    "label_zh",
    "label_en",
    "help_zh",
    "help_en",
    "config",
    "is_required",
    "default",
    "visible_when",
    "edit_permission",
    "customer_visible",
    "customer_editable",
    "section",
    "position",
    "is_active",
)
FIXED = ("target", "subtarget", "key", "field_type")
# Changing only these does not change what a stored value means: no new version.
_UNVERSIONED = {"position", "section"}


# --- Reading definitions (the engine) -----------------------------------------------------------


def definitions_for(
    target: str, subtarget: str | None = None, *, include_inactive: bool = False
) -> list[FieldDefinition]:
    """The fields of ``target`` (those for every subtarget plus those for ``subtarget``), in
    form order: by section; in a section the common fields, then the subtarget's; by position."""
    queryset = FieldDefinition.objects.filter(target=target)
    if subtarget:
        queryset = queryset.filter(Q(subtarget="") | Q(subtarget=subtarget))
    else:
        queryset = queryset.filter(subtarget="")
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    # Fields for every subtarget come first in a section, then those of this subtarget.
    return list(queryset.order_by("section", "subtarget", "position", "pk"))


def _definitions_sharing_values(target: str, subtarget: str) -> Q:
    """Definitions whose values could sit in the same ``custom_fields`` object."""
    if subtarget:
        return Q(target=target) & (Q(subtarget="") | Q(subtarget=subtarget))
    return Q(target=target)


def visibility(
    definitions: Mapping[str, FieldDefinition], values: Mapping[str, Any]
) -> dict[str, bool]:
    """Which of ``definitions`` are shown for ``values``. A hidden field counts as empty."""
    memo: dict[str, bool] = {}

    def shown(key: str) -> bool:
        if key in memo:
            return memo[key]
        memo[key] = False  # a cycle (refused at save) can never make a field visible
        definition = definitions.get(key)
        if definition is None:
            return False
        memo[key] = conditions.evaluate(
            definition.visible_when,
            value_of=lambda other: values.get(other) if shown(other) else None,
            type_of=lambda other: definitions[other].handler,
        )
        return memo[key]

    return {key: shown(key) for key in definitions}


def may_edit(definition: FieldDefinition, *, actor: Any, audience: Audience) -> bool:
    """May this person set this field? Customers: ``customer_editable``; staff: the field's
    ``edit_permission`` at any scope. No actor means the system itself (imports, rules)."""
    if audience == "customer":
        return definition.customer_visible and definition.customer_editable
    if actor is None or not definition.edit_permission:
        return True
    return authz.scope_for(actor, definition.edit_permission) is not None


def clean_values(
    *,
    target: str,
    subtarget: str | None = None,
    values: Any,
    existing: Mapping[str, Any] | None = None,
    actor: Any = None,
    audience: Audience = "staff",
    partial: bool = False,
    definitions: Sequence[FieldDefinition] | None = None,
) -> dict[str, Any]:
    """Validate ``values`` sent for an object and return its complete new ``custom_fields``.

    ``existing`` is the object's current value (None while creating: defaults then apply).
    Sent keys overwrite existing ones; an empty value (null, "", []) clears the field. Unknown
    keys, bad values, fields the person may not edit and missing required fields are all
    collected and raised together as :class:`FieldErrors`. Fields hidden by their visibility
    condition are dropped and never required. ``partial`` skips the required check (drafts,
    single-field edits). Values of deactivated fields already on the object are kept as they
    are, so deactivating a field loses no data.

    ``definitions`` spares the query when many objects are checked in a row (an import): pass
    what ``definitions_for(target, subtarget, include_inactive=True)`` returned.
    """
    if not isinstance(values, dict):
        raise FieldErrors(
            [FieldError("custom_fields", "invalid_type", str(_("Enter an object of values.")))]
        )
    if definitions is None:
        definitions = definitions_for(target, subtarget, include_inactive=True)
    active = {d.key: d for d in definitions if d.is_active}
    errors: dict[str, FieldError] = {}
    unknown: list[FieldError] = []
    submitted: dict[str, Any] = {}

    for key, raw in values.items():
        definition = active.get(key)
        if definition is None or (audience == "customer" and not definition.customer_visible):
            unknown.append(
                FieldError(field_path(str(key)), "unknown_field", str(_("There is no such field.")))
            )
            continue
        if registry.is_empty(raw):
            submitted[key] = None
            continue
        try:
            submitted[key] = definition.handler.clean(raw, definition.parsed_config)
        except InvalidValue as error:
            errors[key] = FieldError(field_path(key), error.code, error.detail())
        except registry.ConfigError:
            # Config is validated again on load; a stored config that no longer fits its type
            # (after a code change) refuses values instead of accepting them unchecked.
            logger.error("Custom field %s has an invalid config", definition)
            errors[key] = FieldError(
                field_path(key),
                "field_misconfigured",
                str(_("This field is misconfigured. Ask an administrator to check it.")),
            )

    merged: dict[str, Any] = dict(existing or {})
    if existing is None:
        for key, definition in active.items():
            if key not in values and not registry.is_empty(definition.default):
                merged[key] = definition.default
    for key, value in submitted.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value

    before = existing or {}
    for key in submitted:
        changed = before.get(key) != merged.get(key)
        if changed and not may_edit(active[key], actor=actor, audience=audience):
            errors[key] = FieldError(
                field_path(key), "not_editable", str(_("You may not change this field."))
            )

    shown = visibility(active, merged)
    for key in list(merged):
        if key in active and not shown[key]:
            del merged[key]
    if not partial:
        for key, definition in active.items():
            if (
                definition.is_required
                and shown[key]
                and key not in errors
                and registry.is_empty(merged.get(key))
                and (audience == "staff" or definition.customer_editable)
            ):
                errors[key] = FieldError(
                    field_path(key), "required", str(_("This field is required."))
                )

    reported = unknown + [error for key, error in errors.items() if shown.get(key)]
    if reported:
        raise FieldErrors(reported)
    return merged


def render_values(
    target: str,
    subtarget: str | None,
    values: Mapping[str, Any] | None,
    language: str,
    *,
    audience: Audience = "staff",
    versions: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """The values of an object for display, in form order, labelled in ``language``.

    ``versions`` (key → definition version the value was written under) renders a value with
    the labels and options it had then, e.g. an option renamed or removed since.
    """
    values = values or {}
    definitions = list(definitions_for(target, subtarget, include_inactive=True))
    wanted = {d.key: versions[d.key] for d in definitions if versions and d.key in versions}
    snapshots = {
        (v.definition_id, v.version): v
        for v in FieldDefinitionVersion.objects.filter(
            definition__in=[
                d for d in definitions if d.key in wanted and d.version != wanted[d.key]
            ]
        )
    }
    rows = []
    for definition in definitions:
        if definition.key not in values or registry.is_empty(values[definition.key]):
            continue
        if audience == "customer" and not definition.customer_visible:
            continue
        shown = definition
        old = snapshots.get((definition.pk, wanted.get(definition.key, definition.version)))
        if old is not None:
            shown = old.as_definition()
        value = values[definition.key]
        try:
            display = shown.handler.display(value, shown.parsed_config, language)
        except (registry.ConfigError, InvalidValue, AttributeError, TypeError):
            display = str(value)
        rows.append(
            {
                "key": definition.key,
                "label": shown.label(language),
                "help": shown.help(language),
                "section": shown.section,
                "field_type": shown.field_type,
                "value": value,
                "display": display,
                "version": shown.version,
                "is_active": definition.is_active,
            }
        )
    return rows


def current_versions(target: str, subtarget: str | None = None) -> dict[str, int]:
    """key → version of the active definitions: what an owner stores beside its values."""
    return {d.key: d.version for d in definitions_for(target, subtarget)}


# --- Managing definitions ---------------------------------------------------------------------


def _required(field: str) -> DomainError:
    return DomainError("required", field=field, message=_("This field is required."))


def _check_identity(*, target: str, subtarget: str, key: str) -> None:
    if target not in registry.targets():
        raise DomainError(
            "unknown_target", field="target", message=_("Custom fields cannot be added there.")
        )
    if subtarget and not SUBTARGET_PATTERN.fullmatch(subtarget):
        raise DomainError(
            "invalid_subtarget",
            field="subtarget",
            message=_("Use lowercase letters, digits, '-' and '_'."),
        )
    if not key:
        raise _required("key")
    try:
        KEY_VALIDATOR(key)
    except ValidationError as error:
        raise DomainError("invalid_key", field="key", message=error.messages[0]) from None
    # A blank-subtarget field shares its values' object with every subtarget's fields.
    clash = FieldDefinition.objects.filter(target=target, key=key)
    if subtarget:
        clash = clash.filter(subtarget__in=["", subtarget])
    if clash.exists():
        raise DomainError(
            "key_taken", field="key", message=_("Another field here already uses this key.")
        )


def _config_error(error: registry.ConfigError) -> DomainError:
    first = error.errors[0] if error.errors else {"field": "", "detail": ""}
    return DomainError(
        "invalid_config",
        field=f"config.{first['field']}" if first["field"] else "config",
        message=_("The configuration is not valid: %(reason)s"),
        params={"reason": f"{first['field']}: {first['detail']}".strip(": ")},
    )


def _validate(definition: FieldDefinition) -> None:
    """The rules of one definition's content (identity is checked by the callers)."""
    if not definition.label_zh.strip() and not definition.label_en.strip():
        raise DomainError("label_required", field="label_zh", message=_("Give the field a label."))
    definition.label_zh = definition.label_zh.strip()
    definition.label_en = definition.label_en.strip()
    try:
        handler = registry.get(definition.field_type)
    except InvalidValue as error:
        raise DomainError("unknown_type", field="field_type", message=error.detail()) from None
    if not isinstance(definition.config, dict):
        raise DomainError(
            "invalid_config", field="config", message=_("The configuration must be an object.")
        )
    try:
        config = handler.parse_config(definition.config)
    except registry.ConfigError as error:
        raise _config_error(error) from None
    # Store the canonical form: defaults filled in, so a later code default cannot change it.
    definition.config = config.model_dump(mode="json", exclude_none=True)
    if registry.is_empty(definition.default):
        definition.default = None
    else:
        try:
            definition.default = handler.clean(definition.default, config)
        except InvalidValue as error:
            raise DomainError(
                "invalid_default",
                field="default",
                message=_("The default does not fit the field: %(reason)s"),
                params={"reason": error.detail()},
            ) from None
    if definition.edit_permission and not catalog.is_known(definition.edit_permission):
        raise DomainError(
            "unknown_permission", field="edit_permission", message=_("No such permission.")
        )
    if definition.customer_editable and not definition.customer_visible:
        raise DomainError(
            "customer_editable_hidden",
            field="customer_editable",
            message=_("A field the customer fills must also be visible to the customer."),
        )
    _validate_condition(definition)


def condition_scope(definition: FieldDefinition) -> list[FieldDefinition]:
    """The active fields a condition of ``definition`` may read (itself included, if saved):
    a field for every subtarget may read only fields for every subtarget."""
    candidates = FieldDefinition.objects.filter(target=definition.target, is_active=True)
    if definition.subtarget:
        candidates = candidates.filter(subtarget__in=["", definition.subtarget])
    else:
        candidates = candidates.filter(subtarget="")
    return list(candidates)


def _validate_condition(definition: FieldDefinition) -> None:
    if registry.is_empty(definition.visible_when):
        definition.visible_when = None
        return
    others = {d.key: d for d in condition_scope(definition) if d.pk != definition.pk}
    readable = {**others, definition.key: definition}
    definition.visible_when = conditions.normalise(definition.visible_when, readable)
    graph = {key: conditions.referenced_keys(d.visible_when) for key, d in readable.items()}
    cycle = conditions.find_cycle(graph)
    if cycle:
        raise DomainError(
            "condition_cycle",
            field="visible_when",
            message=_("These conditions depend on each other in a circle: %(cycle)s"),
            params={"cycle": " → ".join(cycle)},
        )


def _write_version(definition: FieldDefinition, actor: Any) -> None:
    FieldDefinitionVersion.objects.create(
        definition=definition,
        version=definition.version,
        snapshot=definition.snapshot(),
        changed_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _payload(definition: FieldDefinition) -> dict[str, Any]:
    return {
        "target": definition.target,
        "subtarget": definition.subtarget,
        "key": definition.key,
        "version": definition.version,
    }


@transaction.atomic
def create_definition(
    *,
    actor: Any,
    target: str,
    key: str,
    field_type: str,
    label_zh: str = "",
    label_en: str = "",
    subtarget: str = "",
    help_zh: str = "",
    help_en: str = "",
    config: dict[str, Any] | None = None,
    is_required: bool = False,
    default: Any = None,
    visible_when: dict[str, Any] | None = None,
    edit_permission: str = "",
    customer_visible: bool = False,
    customer_editable: bool = False,
    section: str = "",
    position: int | None = None,
) -> FieldDefinition:
    """Add a field to a form. Its first version is recorded at once."""
    authz.require_permission(actor, CONFIGURE)
    key, subtarget, target = key.strip(), subtarget.strip(), target.strip()
    _check_identity(target=target, subtarget=subtarget, key=key)
    definition = FieldDefinition(
        target=target,
        subtarget=subtarget,
        key=key,
        field_type=field_type,
        label_zh=label_zh,
        label_en=label_en,
        help_zh=help_zh,
        help_en=help_en,
        config=config if config is not None else {},
        is_required=is_required,
        default=default,
        visible_when=visible_when,
        edit_permission=edit_permission,
        customer_visible=customer_visible,
        customer_editable=customer_editable,
        section=section.strip(),
        version=1,
    )
    _validate(definition)
    if position is None:
        last = FieldDefinition.objects.filter(target=target, subtarget=subtarget).aggregate(
            last=Max("position")
        )["last"]
        position = (last or 0) + POSITION_STEP
    definition.position = position
    try:
        with transaction.atomic():
            definition.save()
    except IntegrityError:
        # Another request took the key between the check and this insert.
        raise DomainError(
            "key_taken", field="key", message=_("Another field here already uses this key.")
        ) from None
    _write_version(definition, actor)
    audit.record(
        actor=actor,
        action=AuditEntry.Action.CREATED,
        obj=definition,
        after=audit.snapshot(definition),
    )
    outbox.emit("field_definition.created", definition, actor=actor, payload=_payload(definition))
    return definition


@transaction.atomic
def update_definition(
    *,
    actor: Any,
    definition: FieldDefinition,
    changes: Mapping[str, Any],
    expected_version: int | None = None,
    verb: str = "updated",
) -> FieldDefinition:
    """Change a field. A change of meaning bumps ``version`` and records the new version;
    target, subtarget, key and type cannot change because stored values depend on them."""
    authz.require_permission(actor, CONFIGURE, definition)
    return _update(
        actor=actor,
        definition=definition,
        changes=changes,
        expected_version=expected_version,
        verb=verb,
    )


def _update(
    *,
    actor: Any,
    definition: FieldDefinition,
    changes: Mapping[str, Any],
    expected_version: int | None,
    verb: str,
) -> FieldDefinition:
    definition = FieldDefinition.objects.select_for_update().get(pk=definition.pk)
    if expected_version is not None and definition.version != expected_version:
        raise Conflict("version_mismatch", field="version")
    for name in FIXED:
        if name in changes and changes[name] != getattr(definition, name):
            if name == "field_type":
                raise DomainError(
                    "type_change_forbidden",
                    field="field_type",
                    message=_(
                        "The type of a field cannot change: values already stored were "
                        "checked against the old type. Add a new field instead."
                    ),
                )
            raise DomainError(
                "fixed_field",
                field=name,
                message=_("This cannot change once the field exists: stored values use it."),
            )
    unknown = set(changes) - set(EDITABLE) - set(FIXED)
    if unknown:
        raise DomainError(
            "unknown_field",
            field=sorted(unknown)[0],
            message=_("This field cannot be changed here."),
        )
    before = audit.snapshot(definition)
    for name in EDITABLE:
        if name in changes:
            value = changes[name]
            if name == "section" and isinstance(value, str):
                value = value.strip()
            setattr(definition, name, value)
    _validate(definition)
    if not definition.is_active and before["is_active"]:
        _refuse_if_referenced(definition)
    after = audit.snapshot(definition)
    changed = [name for name in EDITABLE if before.get(name) != after.get(name)]
    if "config" in changed and definition.is_active:
        _refuse_breaking_conditions(definition)
    if not changed:
        return definition
    if set(changed) - _UNVERSIONED:
        definition.version += 1
        changed.append("version")
    definition.save(update_fields=[*changed, "updated_at"])
    if "version" in changed:
        _write_version(definition, actor)
    audit.record_change(actor=actor, obj=definition, before=before, verb=verb)
    outbox.emit(f"field_definition.{verb}", definition, actor=actor, payload=_payload(definition))
    return definition


def _dependants(definition: FieldDefinition) -> list[FieldDefinition]:
    """Active fields whose condition reads ``definition``."""
    return [
        other
        for other in FieldDefinition.objects.filter(
            _definitions_sharing_values(definition.target, definition.subtarget),
            is_active=True,
        ).exclude(pk=definition.pk)
        if definition.key in conditions.referenced_keys(other.visible_when)
        and (not definition.subtarget or other.subtarget == definition.subtarget)
    ]


def _refuse_breaking_conditions(definition: FieldDefinition) -> None:
    """A new config must still fit the conditions that read the field (an option they compare
    with must not be removed; retire it with ``is_active: false`` instead)."""
    for other in _dependants(definition):
        readable = {d.key: d for d in condition_scope(other)}
        readable[definition.key] = definition
        try:
            conditions.normalise(other.visible_when, readable)
        except DomainError:
            raise DomainError(
                "breaks_condition",
                field="config",
                message=_(
                    "The condition of field %(field)s compares with a value this change "
                    "removes. Change that condition first."
                ),
                params={"field": other.key},
            ) from None


def _refuse_if_referenced(definition: FieldDefinition) -> None:
    dependants = [other.key for other in _dependants(definition)]
    if dependants:
        raise DomainError(
            "field_referenced",
            field="is_active",
            message=_("The conditions of these fields read this one: %(fields)s"),
            params={"fields": ", ".join(sorted(dependants))},
        )


@transaction.atomic
def deactivate_definition(*, actor: Any, definition: FieldDefinition) -> FieldDefinition:
    """Take a field off the forms. Stored values stay on their objects and still render.
    Refused while another active field's condition reads it."""
    authz.require_permission(actor, CONFIGURE, definition)
    return _update(
        actor=actor,
        definition=definition,
        changes={"is_active": False},
        expected_version=None,
        verb="deactivated",
    )


@dataclass(frozen=True)
class Reordered:
    target: str
    subtarget: str
    keys: list[str]


@transaction.atomic
def reorder_definitions(
    *,
    actor: Any,
    target: str,
    subtarget: str = "",
    keys: Iterable[str],
    sections: Mapping[str, str] | None = None,
) -> Reordered:
    """Put the fields of one form (target + subtarget) in the order of ``keys``; fields not
    named keep their relative order after them. ``sections`` (key → section) moves fields to
    another section at the same time, as dragging in the form builder does. Order and section
    are layout, not meaning: no new version."""
    authz.require_permission(actor, CONFIGURE)
    wanted = list(keys)
    definitions = list(
        FieldDefinition.objects.select_for_update()
        .filter(target=target, subtarget=subtarget)
        .order_by("position", "pk")
    )
    by_key = {d.key: d for d in definitions}
    missing = [key for key in wanted if key not in by_key]
    if missing or len(set(wanted)) != len(wanted):
        raise DomainError(
            "invalid_order",
            field="keys",
            message=_("Name each field of this form at most once."),
        )
    new_sections = _clean_sections(sections or {}, by_key)
    ordered = [by_key[key] for key in wanted] + [d for d in definitions if d.key not in wanted]
    before = [d.key for d in definitions]
    moved = []
    sections_before: dict[str, str] = {}
    for index, definition in enumerate(ordered, start=1):
        position = index * POSITION_STEP
        section = new_sections.get(definition.key, definition.section)
        changed = ["position"] if definition.position != position else []
        if section != definition.section:
            sections_before[definition.key] = definition.section
            definition.section = section
            changed.append("section")
        if changed:
            definition.position = position
            definition.save(update_fields=[*changed, "updated_at"])
            moved.append(definition.key)
    after = [d.key for d in ordered]
    if moved:
        sections_after = {key: by_key[key].section for key in sections_before}
        audit.record(
            actor=actor,
            action=AuditEntry.Action.UPDATED,
            verb="reordered",
            object_type="customfields.fielddefinition",
            object_repr=f"{target}:{subtarget or '*'}",
            before={"order": before, **({"sections": sections_before} if sections_before else {})},
            after={"order": after, **({"sections": sections_after} if sections_after else {})},
        )
        outbox.emit(
            "field_definition.reordered",
            None,
            actor=actor,
            payload={
                "target": target,
                "subtarget": subtarget,
                "keys": after,
                "sections": sections_after,
            },
        )
    return Reordered(target=target, subtarget=subtarget, keys=after)


def _clean_sections(
    sections: Mapping[str, str], by_key: Mapping[str, FieldDefinition]
) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for key, section in sections.items():
        if key not in by_key:
            raise DomainError(
                "invalid_order",
                field="sections",
                message=_("Name each field of this form at most once."),
            )
        if not isinstance(section, str) or len(section.strip()) > SECTION_MAX_LENGTH:
            raise DomainError(
                "invalid_section",
                field="sections",
                message=_("A section name has at most %(max_length)s characters."),
                params={"max_length": SECTION_MAX_LENGTH},
            )
        cleaned[key] = section.strip()
    return cleaned


def move_definition(*, actor: Any, definition: FieldDefinition, offset: int) -> Reordered:
    """Move a field ``offset`` places up (negative) or down among the active fields of its
    section, as the form shows them; at the edge of the section it stays where it is."""
    active = list(
        FieldDefinition.objects.filter(
            target=definition.target, subtarget=definition.subtarget, is_active=True
        )
        .order_by("section", "position", "pk")
        .values_list("key", "section")
    )
    keys = [key for key, _section in active]
    if definition.key not in keys:
        return Reordered(target=definition.target, subtarget=definition.subtarget, keys=keys)
    same_section = [i for i, (_key, section) in enumerate(active) if section == definition.section]
    index = keys.index(definition.key)
    new_index = max(same_section[0], min(same_section[-1], index + offset))
    keys.insert(new_index, keys.pop(index))
    return reorder_definitions(
        actor=actor, target=definition.target, subtarget=definition.subtarget, keys=keys
    )
