"""Forms of the office pages: one per action; services still validate and write."""

from __future__ import annotations

from zoneinfo import available_timezones

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from integrations.accounts.models import DeveloperAccount
from integrations.offices.models import ApiMode, Office, OfficeStatus
from integrations.offices.selectors.offices import OfficeFilters
from integrations.opendental.keys import KEY_HELP, KEY_RULE, is_key
from odportal.lib.forms import SecretInput

CUSTOMER_KEY_HELP = f"{KEY_HELP}, from the office's Open Dental (Setup > Advanced > API)."


class OfficeFilterForm(forms.Form):
    """The office list's search, filters and sort (all optional, bad values ignored)."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    status = forms.ChoiceField(required=False)
    account = forms.ChoiceField(required=False)
    mode = forms.ChoiceField(required=False, choices=[("", "Any mode"), *ApiMode.choices])
    sort = forms.CharField(required=False)
    dir = forms.ChoiceField(required=False, choices=[("asc", "asc"), ("desc", "desc")])

    def __init__(self, *args, accounts=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [
            ("", "Any status"),
            ("attention", "Needs attention"),
            ("stale", "Stale data"),
            *OfficeStatus.choices,
        ]
        self.fields["account"].choices = [("", "All accounts")] + [
            (str(a.public_id), a.company_name) for a in accounts
        ]

    def filters(self) -> OfficeFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return OfficeFilters(
            q=(data.get("q") or "").strip(),
            status=data.get("status") or "",
            account=data.get("account") or "",
            mode=data.get("mode") or "",
            sort=data.get("sort") or "name",
            desc=data.get("dir") == "desc",
        )


class OfficeForm(forms.ModelForm):
    """Office settings (name, reference, mode, base URL, time zone, polling)."""

    class Meta:
        model = Office
        fields = [
            "name",
            "reference",
            "api_mode",
            "base_url",
            "time_zone",
            "polling_enabled",
            "health_interval_s",
            "notes",
        ]
        labels = {"health_interval_s": "Health check interval (seconds)"}
        help_texts = {
            "base_url": "Remote: https://api.opendental.com/api/v1 · must end with /api/v1",
            "time_zone": "IANA name, e.g. America/Chicago",
        }
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def clean_time_zone(self) -> str:
        tz = self.cleaned_data["time_zone"].strip()
        if tz not in available_timezones():
            raise ValidationError(f"Unknown time zone {tz!r} (use e.g. America/Chicago).")
        return tz

    def clean_base_url(self) -> str:
        url = (self.cleaned_data.get("base_url") or "").strip()
        if url and not url.rstrip("/").endswith("/api/v1"):
            raise ValidationError("The base URL must end with /api/v1.")
        return url

    def _post_clean(self) -> None:
        # The service validates and saves; skip ModelForm's instance.full_clean().
        pass


class OfficeCreateForm(OfficeForm):
    """A new office, in one of the accounts the user can act on."""

    account = forms.ModelChoiceField(
        queryset=DeveloperAccount.objects.none(), to_field_name="public_id", empty_label=None
    )

    class Meta(OfficeForm.Meta):
        fields = ["account", *OfficeForm.Meta.fields]

    def __init__(self, *args, accounts=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        self.fields["base_url"].required = False
        self.fields["base_url"].help_text = "Leave empty for the default of the API mode."
        self.fields["base_url"].initial = ""


class CustomerKeyForm(forms.Form):
    """Add a customer key to an office (the current key, if any, is retired)."""

    customer_key = forms.CharField(
        label="Customer key", widget=SecretInput(), help_text=CUSTOMER_KEY_HELP, strip=True
    )

    def clean_customer_key(self) -> str:
        key = self.cleaned_data["customer_key"]
        if not is_key(key):
            raise ValidationError(KEY_RULE)
        return key


class ReasonForm(forms.Form):
    """A key action that must say why (recorded in the audit log)."""

    reason = forms.CharField(
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "e.g. office cancelled its subscription"}),
        help_text="Recorded in the audit log.",
    )


class KeyEnableForm(forms.Form):
    """Re-enable a disabled key; the reason is optional."""

    reason = forms.CharField(max_length=300, required=False, help_text="Recorded in the audit log.")


class KeyRotateForm(ReasonForm, CustomerKeyForm):
    """Replace a key with a new one; the old key is disabled."""

    field_order = ["customer_key", "reason"]


class KeyMoveForm(ReasonForm):
    """Move a key to another office of the same account."""

    to_office = forms.ModelChoiceField(
        queryset=Office.objects.none(), to_field_name="public_id", label="Move to office"
    )
    field_order = ["to_office", "reason"]

    def __init__(self, *args, offices=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_office"].queryset = offices


class PollForm(forms.Form):
    """Which poll to run now."""

    kind = forms.ChoiceField(choices=[("health", "Health"), ("aging", "Aging refresh")])


class AgingAsOfForm(forms.Form):
    """Ask for the aging as of another date, optionally for one clinic."""

    as_of = forms.DateField(label="As of", widget=forms.DateInput(attrs={"type": "date"}))
    clinic = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Clinic")

    def __init__(self, *args, clinics=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clinic"].choices = [("", "All clinics")] + [
            (c.clinic_num, str(c)) for c in clinics
        ]

    def clean_as_of(self):
        value = self.cleaned_data["as_of"]
        if value > timezone.localdate():
            raise ValidationError("Choose today or a date in the past.")
        return value


class ImportForm(forms.Form):
    """Upload a CSV or a sandbox manifest JSON of offices and keys."""

    file = forms.FileField(
        help_text="CSV with a header (name, customer_key, api_mode, base_url, time_zone; "
        "optional reference, notes) or the sandbox's manifest JSON."
    )
    base_url = forms.URLField(
        required=False,
        label="Base URL for every row",
        help_text="Overrides the base URL of each row, e.g. a local sandbox.",
    )

    MAX_BYTES = 5 * 1024 * 1024

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise ValidationError("The file is larger than 5 MB.")
        return upload
