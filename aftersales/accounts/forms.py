"""Forms of the account pages. They parse input only; the writes happen in ``services``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from aftersales.accounts import catalog
from aftersales.accounts.models import BusinessLine, Role, RoleGrant, Team, User
from aftersales.core.forms import choice_field, model_field


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("Username or e-mail"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Six-digit code"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    confirm_password = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") and data.get("new_password") != data.get("confirm_password"):
            self.add_error("confirm_password", _("The two passwords do not match."))
        return data


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form, except that it also reaches users who never had a password.

    A user created without a password sets their first one through this e-mail.
    """

    def get_users(self, email: str) -> Any:
        return (
            user
            for user in User.objects.filter(email__iexact=email, is_active=True)
            if user.email.casefold() == email.casefold()
        )


class SetPasswordForm(auth_forms.SetPasswordForm):
    """The new password from the reset link; ``save`` goes through ``services.reset_password``."""

    def save(self, commit: bool = True) -> Any:
        from aftersales.accounts import services

        return services.reset_password(
            user=self.user, new_password=self.cleaned_data["new_password1"]
        )


class ProfileForm(forms.Form):
    display_name = forms.CharField(label=_("Display name"), max_length=150, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("Follow the browser")), *settings.LANGUAGES],
    )


# --- Users -------------------------------------------------------------------------------------


def _line_choices(lines: QuerySet[BusinessLine]) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        label=_("Business lines"),
        queryset=lines,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class UserFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("All teams")
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All kinds")), *User.Kind.choices]
    )
    active = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Active and inactive")), ("1", _("Active")), ("0", _("Inactive"))],
    )

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "team").queryset = teams


class UserCreateForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    email = forms.EmailField(label=_("E-mail"), required=False)
    display_name = forms.CharField(label=_("Display name"), max_length=150, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=User.Kind.choices, initial=User.Kind.STAFF)
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("Follow the browser")), *settings.LANGUAGES],
    )
    password = forms.CharField(
        label=_("Initial password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty: the person sets a password through the reset e-mail."),
    )

    def __init__(self, *args: Any, lines: QuerySet[BusinessLine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["business_lines"] = _line_choices(lines)


class UserEditForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    email = forms.EmailField(label=_("E-mail"), required=False)
    display_name = forms.CharField(label=_("Display name"), max_length=150, required=False)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("Follow the browser")), *settings.LANGUAGES],
    )

    def __init__(self, *args: Any, lines: QuerySet[BusinessLine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["business_lines"] = _line_choices(lines)


class GrantRoleForm(forms.Form):
    role = forms.ModelChoiceField(label=_("Role"), queryset=Role.objects.none())
    scope = forms.ChoiceField(label=_("Data scope"), choices=RoleGrant.Scope.choices)

    def __init__(self, *args: Any, roles: QuerySet[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "role").queryset = roles


# --- Teams and business lines ---------------------------------------------------------------


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    business_line = forms.ModelChoiceField(
        label=_("Business line"), queryset=BusinessLine.objects.none()
    )
    lead = forms.ModelChoiceField(
        label=_("Team lead"), queryset=User.objects.none(), required=False
    )
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(
        self,
        *args: Any,
        lines: QuerySet[BusinessLine],
        users: QuerySet[User],
        editing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "business_line").queryset = lines
        model_field(self, "lead").queryset = users
        if editing:
            # A team stays in its business line: its tickets and rules belong there.
            del self.fields["business_line"]
        else:
            del self.fields["is_active"]


class TeamMembersForm(forms.Form):
    members = forms.ModelMultipleChoiceField(
        label=_("Members"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, users: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "members").queryset = users


class BusinessLineForm(forms.Form):
    code = forms.SlugField(
        label=_("Code"),
        max_length=40,
        help_text=_("Letters, digits, hyphens; cannot change later."),
    )
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["code"]
        else:
            del self.fields["is_active"]


# --- Roles -------------------------------------------------------------------------------------


class RoleCopyForm(forms.Form):
    key = forms.SlugField(
        label=_("Key"),
        max_length=60,
        help_text=_("Letters, digits, hyphens; used by imports and the API."),
    )
    name = forms.CharField(label=_("Name"), max_length=120)


def permission_groups(selected: list[str] | None = None) -> list[dict[str, Any]]:
    """The catalogue grouped for display: [{label, permissions: [{codename, label, checked}]}]."""
    groups: dict[str, dict[str, Any]] = {}
    chosen = set(selected or [])
    for codename, definition in catalog.all_permissions().items():
        key = str(definition.group)
        group = groups.setdefault(key, {"label": definition.group, "permissions": []})
        group["permissions"].append(
            {"codename": codename, "label": definition.label, "checked": codename in chosen}
        )
    return list(groups.values())


class RoleEditForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea)
    requires_two_factor = forms.BooleanField(label=_("Requires two-factor login"), required=False)
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice_field(self, "permissions").choices = [
            (codename, codename) for codename in catalog.all_permissions()
        ]


# --- API tokens --------------------------------------------------------------------------------


class TokenCreateForm(forms.Form):
    user = forms.ModelChoiceField(
        label=_("For user"), queryset=User.objects.none(), empty_label=None
    )
    name = forms.CharField(
        label=_("Name"), max_length=120, help_text=_("What the token is for, e.g. “CRM sync”.")
    )
    scopes = forms.CharField(
        label=_("Scopes"),
        initial="*",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Permission patterns, one per line or separated by spaces, e.g. "
            "“tickets.view_*”. “*” keeps all of the user's permissions."
        ),
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Optional. The token stops working at the start of this day."),
    )

    def __init__(self, *args: Any, users: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model_field(self, "user").queryset = users

    def scope_list(self) -> list[str]:
        return self.cleaned_data["scopes"].replace(",", " ").split()
