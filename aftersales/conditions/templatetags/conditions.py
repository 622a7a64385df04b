"""``{% builder_labels %}``: the condition builder's words in the request's language."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

register = template.Library()


@register.simple_tag
def builder_labels() -> dict[str, str]:
    return {
        "all": _("All of these are true"),
        "any": _("Any of these is true"),
        "group": _("Group of conditions"),
        "field": _("Field"),
        "operator": _("Operator"),
        "value": _("Value"),
        "words": _("Words, separated by commas"),
        "words_placeholder": _("word, another word"),
        "and": _("and"),
        "hours": pgettext("duration", "hours"),
        "yes": _("Yes"),
        "no": _("No"),
        "add_condition": _("Add condition"),
        "add_group": _("Add group"),
        "remove": _("Remove"),
        "remove_condition": _("Remove condition"),
        "remove_group": _("Remove group"),
        "empty": _("No conditions yet: this always applies."),
        "check_failed": _("The expression could not be shown."),
        "invalid": _("The condition has errors, shown next to the rows."),
    }
