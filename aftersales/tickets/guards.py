"""CEL guards of status transitions: compiled at save time, evaluated on a ticket's facts.

A guard sees one variable, ``ticket``, a map with the declared fields below. The expression is
compiled and type-checked by cel-expr-python (the CEL C++ runtime): it has no access to Python,
files or the network, and an expression that does not compile is never stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cel_expr_python import cel
from django.utils.translation import gettext_lazy as _

from aftersales.core.errors import DomainError

MAX_GUARD_LENGTH = 2000

# The declared fields of ``ticket`` and their values when a fact is not given.
TICKET_FACTS: dict[str, Any] = {
    "priority": "",
    "channel": "",
    "category": "",
    "assignee_set": False,
    "tier": "",
    "custom_fields": {},
}
_FACT_TYPES: dict[str, tuple[type, ...]] = {
    "priority": (str,),
    "channel": (str,),
    "category": (str,),
    "assignee_set": (bool,),
    "tier": (str,),
    "custom_fields": (dict,),
}

_STRING_LITERAL = re.compile(
    r"""(?s)[rRbB]*('''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")"""
)
_TICKET_FIELD = re.compile(r"\bticket\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class GuardResult:
    allowed: bool
    error: str = ""


@lru_cache(maxsize=1)
def _environment() -> Any:
    return cel.NewEnv(variables={"ticket": cel.Type.Map(cel.Type.STRING, cel.Type.DYN)})


def _invalid(detail: str) -> DomainError:
    return DomainError(
        "guard_invalid",
        field="guard",
        message=_("The condition is not valid: %(error)s"),
        params={"error": detail},
    )


def _clean_message(error: Exception) -> str:
    text = str(error).removeprefix("INVALID_ARGUMENT: ").removesuffix(" [INVALID_ARGUMENT]")
    return text.strip()


def compile_guard(expression: str) -> Any:
    """The compiled program of ``expression``; :class:`DomainError` on ``guard`` if invalid.

    Besides CEL's own parse and type check, a reference to an undeclared ``ticket`` field is
    refused here: ``ticket`` is a map, so CEL alone would only notice a typo at run time.
    """
    if len(expression) > MAX_GUARD_LENGTH:
        raise DomainError(
            "guard_too_long",
            field="guard",
            message=_("Keep the condition under %(max)s characters."),
            params={"max": MAX_GUARD_LENGTH},
        )
    try:
        program = _environment().compile(expression)
    except RuntimeError as error:
        raise _invalid(_clean_message(error)) from None
    without_strings = _STRING_LITERAL.sub('""', expression)
    for name in _TICKET_FIELD.findall(without_strings):
        if name not in TICKET_FACTS:
            raise DomainError(
                "guard_unknown_field",
                field="guard",
                message=_("ticket.%(name)s is not a known field. Known: %(known)s."),
                params={"name": name, "known": ", ".join(TICKET_FACTS)},
            )
    result_type = program.return_type()
    if result_type != cel.Type.BOOL and result_type != cel.Type.DYN:
        raise DomainError(
            "guard_not_boolean",
            field="guard",
            message=_("The condition must be true or false, not a %(type)s."),
            params={"type": result_type.name().lower()},
        )
    return program


def normalise_facts(facts: dict[str, Any] | None) -> dict[str, Any]:
    """The ``ticket`` map for a guard: declared fields only, defaults for missing ones.

    :class:`DomainError` names a fact of the wrong type (``facts.<name>``).
    """
    result = {
        key: (dict(value) if isinstance(value, dict) else value)
        for key, value in TICKET_FACTS.items()
    }
    for key, value in (facts or {}).items():
        if key not in TICKET_FACTS:
            raise DomainError(
                "unknown_fact",
                field=f"facts.{key}",
                message=_("Not a known field of ticket."),
            )
        if value is None:
            continue
        if not isinstance(value, _FACT_TYPES[key]):
            raise DomainError(
                "invalid_fact", field=f"facts.{key}", message=_("This value has the wrong type.")
            )
        result[key] = value
    return result


def evaluate(program: Any, facts: dict[str, Any]) -> GuardResult:
    """Run a compiled guard on normalised facts. An evaluation error refuses, with the error."""
    try:
        value = program.eval(data={"ticket": facts})
    except (RuntimeError, TypeError, ValueError) as error:
        return GuardResult(allowed=False, error=_clean_message(error))
    if value.type() == cel.Type.BOOL:
        return GuardResult(allowed=value.value() is True)
    if value.type() == cel.Type.ERROR:
        return GuardResult(allowed=False, error=str(value.value()))
    return GuardResult(allowed=False, error=str(_("The condition did not give true or false.")))


@lru_cache(maxsize=2048)
def program_for(transition_id: int, version: int, expression: str) -> Any:
    """Compiled guard of one transition version; recompiled only after the guard changes."""
    return compile_guard(expression)


def try_guard(expression: str, facts: dict[str, Any] | None) -> GuardResult:
    """Compile and run a guard on sample facts without storing anything (the "test" button)."""
    program = compile_guard(expression)
    return evaluate(program, normalise_facts(facts))
