"""Reads of custom-field definitions for a person (configuration: only "all" grants reach it)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from aftersales.accounts import authz
from aftersales.customfields.models import FieldDefinition, FieldDefinitionVersion


def definitions_visible_to(viewer: Any) -> QuerySet[FieldDefinition]:
    return authz.restrict(FieldDefinition.objects.all(), viewer)


def versions_of(definition: FieldDefinition) -> QuerySet[FieldDefinitionVersion]:
    return definition.versions.select_related("changed_by").order_by("-version")
