"""Forms of the routing settings pages; they only parse input, the services validate."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import Team
from aftersales.routing.models import AgentProfile, Region, Skill, TeamRouting
from aftersales.sla.models import Calendar


class TeamRoutingForm(forms.Form):
    strategy = forms.ChoiceField(label=_("Strategy"), choices=TeamRouting.Strategy.choices)
    use_skills = forms.BooleanField(label=_("Match skills"), required=False)
    use_region = forms.BooleanField(label=_("Match region"), required=False)
    region_field = forms.CharField(
        label=_("Location field"),
        required=False,
        max_length=64,
        help_text=_("Key of the ticket's custom field that holds its location."),
    )
    default_capacity = forms.IntegerField(
        label=_("Default capacity"),
        required=False,
        min_value=0,
        help_text=_("Open tickets per agent at most. Empty: no limit."),
    )
    queue_mode = forms.BooleanField(
        label=_("Queue"),
        required=False,
        help_text=_(
            "Tickets nobody can take wait in a queue. With the manual strategy agents pull "
            "them with Get next; otherwise they go to the next agent who is free."
        ),
    )
    respect_working_hours = forms.BooleanField(label=_("Respect working hours"), required=False)
    next_tier = forms.ModelChoiceField(
        label=_("Escalate to team"), queryset=Team.objects.none(), required=False
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["next_tier"].queryset = teams  # type: ignore[attr-defined]


class SkillForm(forms.Form):
    key = forms.SlugField(label=_("Key"), max_length=60)
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=120)
    name_en = forms.CharField(label=_("Name (English)"), max_length=120)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)


class RegionForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=60)
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=120)
    name_en = forms.CharField(label=_("Name (English)"), max_length=120)
    parent = forms.ModelChoiceField(
        label=_("Parent region"), queryset=Region.objects.none(), required=False
    )

    def __init__(self, *args: Any, regions: QuerySet[Region], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = regions  # type: ignore[attr-defined]


class AgentProfileForm(forms.Form):
    availability = forms.ChoiceField(
        label=_("Availability"), choices=AgentProfile.Availability.choices
    )
    capacity = forms.IntegerField(
        label=_("Capacity"),
        required=False,
        min_value=0,
        help_text=_("Open tickets at most. Empty: the team's default."),
    )
    calendar = forms.ModelChoiceField(
        label=_("Working hours"),
        queryset=Calendar.objects.none(),
        required=False,
        help_text=_("Empty: the team's calendar."),
    )
    skills = forms.ModelMultipleChoiceField(
        label=_("Skills"),
        queryset=Skill.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    regions = forms.ModelMultipleChoiceField(
        label=_("Regions"),
        queryset=Region.objects.none(),
        required=False,
        help_text=_("Covering a region covers everything inside it."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        calendars: QuerySet[Calendar],
        skills: QuerySet[Skill],
        regions: QuerySet[Region],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = calendars  # type: ignore[attr-defined]
        self.fields["skills"].queryset = skills  # type: ignore[attr-defined]
        self.fields["regions"].queryset = regions  # type: ignore[attr-defined]
