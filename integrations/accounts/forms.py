"""Forms of the developer-account pages: one per action; services do the writing."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.password_validation import password_validators_help_texts
from django.forms.models import fields_for_model, model_to_dict
from django.views.decorators.debug import sensitive_variables

from integrations.accounts.models import ApiResource, DeveloperAccount, Role
from integrations.accounts.selectors import PERMISSION_FLAGS, AuditFilters, PermissionRow
from integrations.accounts.services.accounts import ACCOUNT_FIELDS
from integrations.opendental.keys import KEY_HELP
from odportal.lib.forms import SecretInput

SECRET_FIELDS = ("developer_key", "portal_key")


class DeveloperAccountForm(forms.Form):
    """Account details Open Dental needs, plus write-only developer and portal keys."""

    developer_key = forms.CharField(
        required=False,
        strip=True,
        widget=SecretInput(),
        help_text=f"{KEY_HELP}. Leave blank to keep the current key.",
    )
    clear_developer_key = forms.BooleanField(required=False, label="Remove the developer key")
    portal_key = forms.CharField(
        label="Developer Portal key",
        required=False,
        strip=True,
        widget=SecretInput(),
        help_text="Issued by Open Dental support. Leave blank to keep the current key.",
    )
    clear_portal_key = forms.BooleanField(required=False, label="Remove the Developer Portal key")

    def __init__(self, *args, account: DeveloperAccount | None = None, owner: bool = True, **kw):
        if account is not None and "initial" not in kw:
            kw["initial"] = model_to_dict(account, fields=ACCOUNT_FIELDS)
        super().__init__(*args, **kw)
        details = fields_for_model(DeveloperAccount, fields=ACCOUNT_FIELDS)
        secrets = {n: f for n, f in self.fields.items()}
        self.fields = {**details, **(secrets if owner else {})}
        for name in ("billing_address", "app_description"):
            self.fields[name].widget.attrs.update(rows=3)
        self.account = account

    def detail_fields(self) -> list[forms.BoundField]:
        """The account-detail fields, in the order Open Dental lists them."""
        return [self[name] for name in ACCOUNT_FIELDS]

    @sensitive_variables("data")
    def service_kwargs(self) -> dict:
        """Keyword arguments for developer_account_create/update: None keeps a key."""
        data = {k: self.cleaned_data[k] for k in ACCOUNT_FIELDS}
        for name in SECRET_FIELDS:
            if name not in self.fields:
                continue
            if self.cleaned_data.get(f"clear_{name}"):
                data[name] = ""
            else:
                data[name] = self.cleaned_data.get(name) or None
        return data


class PermissionsForm(forms.Form):
    """The requested-permissions matrix: one checkbox per resource and read/create/update."""

    def __init__(self, *args, rows: list[PermissionRow], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            for flag in PERMISSION_FLAGS:
                self.fields[f"{row.resource}__{flag}"] = forms.BooleanField(
                    required=False,
                    initial=getattr(row, flag),
                    label=f"{row.label}: {flag}",
                )

    def matrix(self) -> dict[str, dict[str, bool]]:
        """{resource: {read, create, update}} for requested_permissions_set."""
        return {
            r: {f: bool(self.cleaned_data.get(f"{r}__{f}")) for f in PERMISSION_FLAGS}
            for r in ApiResource.values
        }

    def table(self) -> list[tuple[PermissionRow, list[forms.BoundField]]]:
        """Rows with their three bound checkboxes, for the template."""
        return [
            (row, [self[f"{row.resource}__{f}"] for f in PERMISSION_FLAGS]) for row in self.rows
        ]


class InvitationForm(forms.Form):
    """Invite someone by email with a role; they join only when they accept from the link."""

    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class InvitationSignupForm(UserCreationForm):
    """A new login for an invitee: username and password twice (Django's own checks)."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Django's help is an HTML list; the field template shows plain text.
        self.fields["password1"].help_text = " ".join(password_validators_help_texts())


class MemberRoleForm(forms.Form):
    """Change one member's role."""

    role = forms.ChoiceField(choices=Role.choices)


class AuditFilterForm(forms.Form):
    """Filters for the audit log (GET). Values outside the menus still filter (and match none)."""

    q = forms.CharField(required=False, label="Search", max_length=200)
    action = forms.CharField(required=False, max_length=60, widget=forms.Select)
    actor = forms.CharField(required=False, max_length=150, widget=forms.Select)
    object_type = forms.CharField(
        required=False, max_length=40, label="Object type", widget=forms.Select
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, choices: dict[str, list[str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].widget.choices = [("", "Any action")] + [
            (a, a) for a in choices["actions"]
        ]
        self.fields["actor"].widget.choices = (
            [("", "Anyone")] + [(u, u) for u in choices["actors"]] + [("system", "system")]
        )
        self.fields["object_type"].widget.choices = [("", "Any type")] + [
            (t, t) for t in choices["object_types"]
        ]

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> AuditFilters:
        """The valid filters; an invalid one (e.g. a bad date) is left out and shown as an error."""
        if not self.is_bound:
            return AuditFilters()
        self.is_valid()
        data = self.cleaned_data
        return AuditFilters(
            action=data.get("action", ""),
            actor=data.get("actor", ""),
            object_type=data.get("object_type", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            q=data.get("q", "").strip(),
        )
