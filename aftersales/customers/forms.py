"""Forms of the customer pages. They parse input only; the writes happen in ``services``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from aftersales.accounts.models import BusinessLine, Team, User
from aftersales.core.forms import model_field
from aftersales.customers.models import CustomerIdentity, CustomerTier, Organisation


class TagsField(forms.CharField):
    """Tags typed as one comma-separated line."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Tags"))
        kwargs.setdefault("help_text", _("Separate tags with commas."))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [tag.strip() for tag in text.replace("\uff0c", ",").split(",") if tag.strip()]


ACTIVE_CHOICES = [("", _("All")), ("1", _("Active")), ("0", _("Inactive"))]


class CustomerFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    organisation = forms.ModelChoiceField(
        label=_("Organisation"),
        queryset=Organisation.objects.none(),
        required=False,
        empty_label=_("All"),
    )
    tier = forms.ModelChoiceField(
        label=_("Tier"), queryset=CustomerTier.objects.none(), required=False, empty_label=_("All")
    )
    tag = forms.CharField(label=_("Tag"), required=False, max_length=40)
    business_line = forms.ModelChoiceField(
        label=_("Business line"),
        queryset=BusinessLine.objects.none(),
        required=False,
        empty_label=_("All"),
    )
    active = forms.ChoiceField(label=_("Status"), choices=ACTIVE_CHOICES, required=False)

    def __init__(
        self,
        *args: Any,
        organisations: QuerySet[Any],
        tiers: QuerySet[Any],
        lines: QuerySet[Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "organisation").queryset = organisations
        model_field(self, "tier").queryset = tiers
        model_field(self, "business_line").queryset = lines


class OrganisationFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    business_line = forms.ModelChoiceField(
        label=_("Business line"),
        queryset=BusinessLine.objects.none(),
        required=False,
        empty_label=_("All"),
    )
    active = forms.ChoiceField(label=_("Status"), choices=ACTIVE_CHOICES, required=False)

    def __init__(self, *args: Any, lines: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "business_line").queryset = lines


class CustomerForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    business_line = forms.ModelChoiceField(
        label=_("Business line"), queryset=BusinessLine.objects.none()
    )
    organisation = forms.ModelChoiceField(
        label=_("Organisation"), queryset=Organisation.objects.none(), required=False
    )
    tier = forms.ModelChoiceField(
        label=_("Tier"),
        queryset=CustomerTier.objects.none(),
        required=False,
        help_text=_("Empty: the organisation's tier, else the default tier."),
    )
    owner = forms.ModelChoiceField(
        label=_("Account manager"), queryset=User.objects.none(), required=False
    )
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    tags = TagsField()
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    is_active = forms.BooleanField(label=_("Active"), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args: Any,
        editing: bool = False,
        lines: QuerySet[Any],
        organisations: QuerySet[Any],
        tiers: QuerySet[Any],
        owners: QuerySet[Any],
        teams: QuerySet[Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "business_line").queryset = lines
        model_field(self, "organisation").queryset = organisations
        model_field(self, "tier").queryset = tiers
        model_field(self, "owner").queryset = owners
        model_field(self, "team").queryset = teams
        if not editing:
            del self.fields["is_active"]
            del self.fields["version"]


class OrganisationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    code = forms.SlugField(label=_("Code"), max_length=60)
    business_line = forms.ModelChoiceField(
        label=_("Business line"), queryset=BusinessLine.objects.none()
    )
    tier = forms.ModelChoiceField(
        label=_("Tier"), queryset=CustomerTier.objects.none(), required=False
    )
    owner = forms.ModelChoiceField(
        label=_("Account manager"), queryset=User.objects.none(), required=False
    )
    tags = TagsField()
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    is_active = forms.BooleanField(label=_("Active"), required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args: Any,
        editing: bool = False,
        lines: QuerySet[Any],
        tiers: QuerySet[Any],
        owners: QuerySet[Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "business_line").queryset = lines
        model_field(self, "tier").queryset = tiers
        model_field(self, "owner").queryset = owners
        if not editing:
            del self.fields["is_active"]
            del self.fields["version"]


class IdentityForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=CustomerIdentity.Kind.choices)
    value = forms.CharField(label=_("Value"), max_length=254)


class LinkIdentityForm(forms.Form):
    """Move one of this customer's identities to the customer it really belongs to."""

    identity = forms.TypedChoiceField(label=_("Identity"), coerce=int)
    customer_id = forms.IntegerField(
        label=_("Customer number"),
        min_value=1,
        help_text=_("The existing customer this identity belongs to (the # on their page)."),
    )

    def __init__(self, *args: Any, identities: list[CustomerIdentity], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["identity"]
        assert isinstance(field, forms.TypedChoiceField)  # noqa: S101 - narrows the type
        field.choices = [(i.pk, str(i)) for i in identities if i.is_active]


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Note"), max_length=10_000, widget=forms.Textarea(attrs={"rows": 3})
    )


class MergeForm(forms.Form):
    """Pick the other customer (by number) and which of the two survives."""

    THIS, OTHER = "this", "other"

    other = forms.IntegerField(
        label=_("Other customer's number"),
        min_value=1,
        help_text=_("The number shown as # on the other customer's page."),
    )
    survivor = forms.ChoiceField(
        label=_("Which record survives"),
        choices=[(THIS, _("This customer")), (OTHER, _("The other customer"))],
        initial=THIS,
        widget=forms.RadioSelect,
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (UTF-8) or Excel (.xlsx) with the columns name, organisation code, tier key, "
            "phone, email, wechat_openid, tags, notes, business_line code, and a column for "
            "each custom field you fill."
        ),
    )
