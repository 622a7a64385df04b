"""Typed access to fields of a bound form (``form.fields`` is typed as plain ``Field``)."""

from __future__ import annotations

from typing import Any, cast

from django import forms


def model_field(form: forms.BaseForm, name: str) -> forms.ModelChoiceField[Any]:
    """The (multiple) model choice field ``name``, to narrow its queryset per request."""
    return cast("forms.ModelChoiceField[Any]", form.fields[name])


def choice_field(form: forms.BaseForm, name: str) -> forms.ChoiceField:
    return cast(forms.ChoiceField, form.fields[name])
