"""Forms of the office pages: one per action; services still validate and write."""

from __future__ import annotations

import uuid
from datetime import date
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from integrations.accounts.models import DeveloperAccount
from integrations.offices.models import ApiMode, BulkAction, Office, OfficeStatus
from integrations.offices.selectors.offices import OfficeFilters
from integrations.offices.services.offices import base_url_validate
from integrations.opendental import network
from integrations.opendental.keys import KEY_HELP, key_problem
from odportal.lib.forms import SecretInput, form_token_new, form_token_read

# The office list's page sizes and its default.
PAGE_SIZES = (25, 50, 100, 200)
PAGE_SIZE = 50
CUSTOMER_KEY_HELP = f"{KEY_HELP}, from the office's Open Dental (Setup > Advanced > API)."


class OfficeFilterForm(forms.Form):
    """The office list's search, filters and sort (all optional). A bad value is left out and
    the others still apply; the search says why it was left out (a field error)."""

    q = forms.CharField(
        required=False,
        max_length=100,
        label="Search",
        error_messages={
            "max_length": "Search for at most %(limit_value)d characters (this has "
            "%(show_value)d): the search is not applied, the other filters are."
        },
    )
    status = forms.ChoiceField(required=False)
    account = forms.ChoiceField(required=False)
    mode = forms.ChoiceField(required=False, choices=[("", "Any mode"), *ApiMode.choices])
    sort = forms.CharField(required=False)
    dir = forms.ChoiceField(required=False, choices=[("asc", "asc"), ("desc", "desc")])
    # The default size is the blank choice, so a query without per_page shows it selected.
    per_page = forms.ChoiceField(
        required=False,
        label="Per page",
        choices=[("" if n == PAGE_SIZE else str(n), str(n)) for n in PAGE_SIZES],
    )

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

    def page_size(self) -> int:
        """Rows a page (one of PAGE_SIZES, kept in the query), read on its own so that a bad
        search does not also reset it."""
        value = (self.data.get("per_page") or "") if self.is_bound else ""
        return int(value) if value in {str(n) for n in PAGE_SIZES} else PAGE_SIZE

    def filters(self) -> OfficeFilters:
        self.is_valid()  # cleaned_data then holds every valid field; an invalid one is left out
        data = getattr(self, "cleaned_data", {})  # none when unbound
        return OfficeFilters(
            q=(data.get("q") or "").strip(),
            status=data.get("status") or "",
            account=data.get("account") or "",
            mode=data.get("mode") or "",
            sort=data.get("sort") or "name",
            desc=data.get("dir") == "desc",
        )


class OfficeForm(forms.ModelForm):
    """Office settings (name, reference, mode, server address, time zone, polling).

    Where the office's requests go is for owners only (``can_direct``; for others the mode and
    server address are read-only) and, for a new or changed server, takes a second step: the
    form comes back asking to tick "Send this office's keys to <host>" (``confirm_send``, with
    the host in ``confirm_host``), and only then passes the confirmed host to the service.
    """

    confirm_send = forms.BooleanField(required=False)
    confirm_host = forms.CharField(required=False, widget=forms.HiddenInput)

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
        labels = {
            "api_mode": "API mode",
            "base_url": "Base URL",
            "health_interval_s": "Health check interval (seconds)",
        }
        help_texts = {"time_zone": "IANA name, e.g. America/Chicago"}
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, can_direct: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.confirm_asked = ""  # the host the form asks to confirm, if any
        self.confirmed_host = ""  # the host confirmed, passed to the service
        self.fields["base_url"].help_text = (
            "Service and Local only: the office's server, ending with /api/v1 (every request "
            "carries the developer and customer keys). Remote offices use "
            f"{settings.OPENDENTAL_REMOTE_BASE_URL}."
        )
        if not can_direct:
            for name in ("api_mode", "base_url"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Only an owner can change where requests go."

    def clean_time_zone(self) -> str:
        tz = self.cleaned_data["time_zone"].strip()
        if tz not in available_timezones():
            raise ValidationError(f"Unknown time zone {tz!r} (use e.g. America/Chicago).")
        return tz

    def clean_base_url(self) -> str:
        url = (self.cleaned_data.get("base_url") or "").strip().rstrip("/")
        if self.cleaned_data.get("api_mode", ApiMode.REMOTE) == ApiMode.REMOTE:
            return ""  # Remote offices use the deployment's URL
        if self.fields["base_url"].disabled or url == self._current_server():
            return url
        return base_url_validate(url)

    def _current_server(self) -> str:
        office = self.instance
        return office.base_url if office.pk and office.api_mode != ApiMode.REMOTE else ""

    def clean(self):
        data = super().clean()
        url = data.get("base_url")
        if url and url != self._current_server():
            host = network.base_url_host(url)
            if data.get("confirm_send") and data.get("confirm_host") == host:
                self.confirmed_host = host
            else:
                self._ask_confirmation(host)
        return data

    def _ask_confirmation(self, host: str) -> None:
        self.confirm_asked = host
        self.data = self.data.copy()
        self.data["confirm_host"] = host
        self.data.pop("confirm_send", None)
        # The bound field (made while validating) holds its own copy of the label.
        self["confirm_send"].label = f"Send this office's keys to {host}"
        self.add_error(
            "confirm_send",
            f"Every request to {host} carries the account's developer key and this office's "
            "customer key: tick to confirm, then save again.",
        )

    def office_fields(self) -> dict:
        """The cleaned office settings for the service (without the confirmation)."""
        skip = ("confirm_send", "confirm_host")
        return {k: v for k, v in self.cleaned_data.items() if k not in skip}

    def _post_clean(self) -> None:
        # The service validates and saves; skip ModelForm's instance.full_clean().
        pass


class OfficeCreateForm(OfficeForm):
    """A new office, in one of the accounts the user can act on.

    Carries a one-time token (``form_token``, signed for the user): the service adds one office
    per token, so a double submission finds the first. A name the account already has comes
    back as a field error with ``same_name_ok`` to tick.
    """

    account = forms.ModelChoiceField(
        queryset=DeveloperAccount.objects.none(), to_field_name="public_id", empty_label=None
    )
    form_token = forms.CharField(required=False, widget=forms.HiddenInput)
    same_name_ok = forms.BooleanField(required=False, label="Add a second office with this name")

    class Meta(OfficeForm.Meta):
        fields = ["account", *OfficeForm.Meta.fields]

    generate_key = forms.BooleanField(
        required=False,
        label="Generate its customer key at Open Dental now",
        help_text="Needs the account's Developer Portal key; the office's IT then gets the key "
        "from the office's onboarding page.",
    )

    def __init__(self, *args, accounts=None, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        self.order_fields(["account", "name", "same_name_ok"])  # the tick beside its name
        self.user = user
        self.creation_token = None  # the token's id once valid, for the service
        if not self.is_bound:
            self.initial["form_token"] = form_token_new(user)

    @property
    def same_name_asked(self) -> bool:
        """Whether to show "Add a second office with this name" (asked, or ticked before)."""
        return self.has_error("name", "same_name") or bool(self.data.get("same_name_ok"))

    def clean(self):
        data = super().clean()
        self.creation_token = form_token_read(data.get("form_token", ""), self.user)
        if self.creation_token is None:
            self.data = self.data.copy()
            self.data["form_token"] = form_token_new(self.user)  # the next save may go through
            self.add_error(
                None,
                "This form has expired (or was opened more than a day ago): nothing was saved. "
                "Check the details and save again.",
            )
        return data

    def office_fields(self) -> dict:
        fields = super().office_fields()
        for name in ("generate_key", "form_token", "same_name_ok"):
            fields.pop(name, None)
        return fields


class CustomerKeyForm(forms.Form):
    """Add a customer key to an office (the current key, if any, is retired)."""

    customer_key = forms.CharField(
        label="Customer key", widget=SecretInput(), help_text=CUSTOMER_KEY_HELP, strip=True
    )

    def clean_customer_key(self) -> str:
        key = self.cleaned_data["customer_key"]  # stripped, never cut
        problem = key_problem(key)
        if problem:
            raise ValidationError(problem)
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


# The earliest as-of date: Open Dental began in 2003, and 2000-01-01 leaves room for ledgers
# converted from older software; an earlier date (1900-01-01, a typo's 0202) ages nothing real
# and still costs the office a query.
AS_OF_EARLIEST = date(2000, 1, 1)


class AgingAsOfForm(forms.Form):
    """Ask for the aging as of another date (2000-01-01 to today), optionally one clinic."""

    as_of = forms.DateField(label="As of", widget=forms.DateInput(attrs={"type": "date"}))
    clinic = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Clinic")

    def __init__(self, *args, clinics=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["as_of"].widget.attrs.update(
            min=AS_OF_EARLIEST.isoformat(), max=timezone.localdate().isoformat()
        )
        self.fields["clinic"].choices = [("", "All clinics")] + [
            (c.clinic_num, str(c)) for c in clinics
        ]

    def clean_as_of(self):
        value = self.cleaned_data["as_of"]
        if value > timezone.localdate():
            raise ValidationError("Choose today or a date in the past.")
        if value < AS_OF_EARLIEST:
            raise ValidationError(
                f"Choose a date from {AS_OF_EARLIEST:%Y-%m-%d} on: Open Dental holds no "
                "earlier ledger to age."
            )
        return value


class ImportForm(forms.Form):
    """Upload a CSV or a sandbox manifest JSON of offices and keys.

    A Service or Local row's server address (its own, or the override) takes the same second
    step as the office form: the result lists the hosts to confirm, and the next upload of the
    file with "Send these offices' keys to ..." ticked passes them (``confirmed_hosts``).
    """

    file = forms.FileField(
        help_text="CSV with a header (name, customer_key, api_mode, base_url, time_zone; "
        "optional reference, notes) or the sandbox's manifest JSON."
    )
    base_url = forms.CharField(
        required=False,
        label="Server address for every Service and Local row",
        help_text="Overrides each Service or Local row's base_url (owners only). Remote rows "
        "always use this deployment's Open Dental URL.",
    )
    confirm_send = forms.BooleanField(required=False)
    confirm_hosts = forms.CharField(required=False, widget=forms.HiddenInput)

    MAX_BYTES = 5 * 1024 * 1024

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.confirm_asked: list[str] = []  # hosts the form asks to confirm, if any

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise ValidationError("The file is larger than 5 MB.")
        return upload

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"].strip()
        problem = network.base_url_problem(url) if url else None
        if problem:
            raise ValidationError(f"The base URL {problem}.")
        return url

    def confirmed_hosts(self) -> frozenset[str]:
        """The hosts the user confirmed (ticked, as listed on the form)."""
        if not self.cleaned_data.get("confirm_send"):
            return frozenset()
        return frozenset(h for h in self.cleaned_data.get("confirm_hosts", "").split(",") if h)

    def ask_confirmation(self, hosts: set[str]) -> None:
        """After an import that refused rows for these hosts: ask to confirm them."""
        listed = ",".join(sorted(hosts))
        self.data = self.data.copy()
        self.data["confirm_hosts"] = listed
        self.data.pop("confirm_send", None)
        self.confirm_asked = sorted(hosts)
        # The bound field (made while validating) holds its own copy of label and help.
        self["confirm_send"].label = f"Send these offices' keys to {', '.join(self.confirm_asked)}"
        self["confirm_send"].help_text = (
            "Every request carries the developer key and the office's customer key. Tick, "
            "choose the file again and import: rows already added are skipped."
        )


class AdoptKeyForm(forms.Form):
    """Track a key Open Dental lists as the current key of one of the account's offices."""

    office = forms.ModelChoiceField(
        queryset=Office.objects.none(), to_field_name="public_id", label="Office"
    )

    def __init__(self, *args, offices=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["office"].queryset = offices


class OfficeIdsField(forms.Field):
    """The office list's ticked rows: their public ids (a bad one makes the form invalid)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[uuid.UUID]:
        try:
            return [uuid.UUID(str(v)) for v in value or []]
        except ValueError:
            raise ValidationError("Not an office of the list.") from None


class BulkForm(forms.Form):
    """A bulk action on the ticked offices, or on every office the list's filter matches."""

    action = forms.ChoiceField(choices=BulkAction.choices)
    office = OfficeIdsField(required=False)
    scope = forms.ChoiceField(required=False, choices=[("", "Ticked"), ("all", "All matching")])

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("office") and data.get("scope") != "all":
            raise ValidationError(
                "Tick the offices to act on, or “All matching” for every office the list shows."
            )
        return data
