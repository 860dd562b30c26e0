"""Forms of the API console and of the API Events pages: one per action."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlsplit

from django import forms

from integrations.apitools.services.console import ConsoleRequest
from integrations.apitools.services.endpoints import (
    ENDPOINTS,
    FREE_GET,
    SHORT_QUERY,
    Endpoint,
    endpoint_of,
)

FREE_PATH_RE = re.compile(r"^/[A-Za-z0-9_\-./{}%]*(\?[^#\s]*)?$")


def endpoint_choices() -> list[tuple[str, str]]:
    """The console's menu: reads, writes, then ShortQuery and the free GET path."""
    return [(e.key, e.label) for e in (*ENDPOINTS, SHORT_QUERY)] + [
        (FREE_GET.key, "GET any other path")
    ]


class EndpointPickForm(forms.Form):
    endpoint = forms.ChoiceField(choices=endpoint_choices, label="Request")


class ConsoleForm(forms.Form):
    """The request of one endpoint: its path and query parameters, the SQL or the body."""

    endpoint = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, endpoint: Endpoint, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint
        self.fields["endpoint"].initial = endpoint.key
        if endpoint is FREE_GET:
            self.fields["path"] = forms.CharField(
                max_length=500, help_text="e.g. /operatories?ClinicNum=1 (GET only)"
            )
        for name in endpoint.path_params:
            self.fields[f"path_{name}"] = forms.IntegerField(label=name, min_value=0)
        for name in endpoint.params:
            self.fields[f"p_{name}"] = forms.CharField(label=name, required=False, max_length=200)
        if endpoint is SHORT_QUERY:
            self.fields["sql"] = forms.CharField(
                label="SqlCommand (read-only)", widget=forms.Textarea(attrs={"rows": 8}),
                max_length=20000,
            )  # fmt: skip
        elif endpoint.has_body:
            self.fields["body"] = forms.CharField(
                label="Body (JSON)", widget=forms.Textarea(attrs={"rows": 8}), max_length=100000
            )
        if endpoint.is_write and endpoint is not SHORT_QUERY:
            self.fields["confirm_office"] = forms.CharField(
                label="Type the office's name to send this write", required=False, max_length=200
            )

    def clean_path(self) -> str:
        path = self.cleaned_data["path"].strip()
        if not FREE_PATH_RE.match(path) or ".." in path or path.startswith("//"):
            raise forms.ValidationError("A path of the API, starting with /, e.g. /operatories.")
        return path

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        try:
            json.loads(body)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        return body

    def console_request(self) -> ConsoleRequest:
        """The cleaned form as the request to send."""
        data, endpoint = self.cleaned_data, self.endpoint
        params = {n: data[f"p_{n}"].strip() for n in endpoint.params if data[f"p_{n}"].strip()}
        if endpoint is FREE_GET:
            split = urlsplit(data["path"])
            return ConsoleRequest("GET", split.path, dict(parse_qsl(split.query)))
        path = endpoint.path
        for name in endpoint.path_params:
            path = path.replace(f"{{{name}}}", str(data[f"path_{name}"]))
        body = data.get("sql") or data.get("body") or ""
        return ConsoleRequest(endpoint.method, path, params, body)


class ConsoleWritesForm(forms.Form):
    writes_enabled = forms.BooleanField(required=False, label="Allow writes (POST/PUT)")


class SubscriptionForm(forms.Form):
    """A new API Events subscription (apisubscriptions.html): database events only."""

    watch_table = forms.ChoiceField(
        choices=[(t, t) for t in ("Appointment", "AppointmentDeleted", "Operatory", "PatField",
                                  "Patient", "Provider", "Schedule", "ToothInitial")]
    )  # fmt: skip
    polling_seconds = forms.IntegerField(min_value=1, max_value=86400, initial=60)
    workstation = forms.CharField(
        required=False, max_length=200,
        help_text="The machine that runs Open Dental and sends the events. Blank: every "
                  "machine fires, and duplicates follow.",
    )  # fmt: skip
    date_time_stop = forms.DateTimeField(required=False, label="Stop at (optional)")
    note = forms.CharField(required=False, max_length=255)


class SubscriptionUpdateForm(forms.Form):
    polling_seconds = forms.IntegerField(min_value=1, max_value=86400, required=False)
    workstation = forms.CharField(required=False, max_length=200)
    date_time_stop = forms.DateTimeField(required=False)


class InboxFilterForm(forms.Form):
    table = forms.CharField(required=False, max_length=100)
    event_type = forms.CharField(required=False, max_length=200, label="Type")
    workstation = forms.CharField(required=False, max_length=200)
    q = forms.CharField(required=False, max_length=200, label="Search rows")


def console_initial(method: str, path: str, params: dict, body: str) -> tuple[Endpoint, dict]:
    """The console form's endpoint and initial values for a request sent before (a re-run)."""
    endpoint, path_values = endpoint_of(method, path)
    initial = {f"path_{k}": v for k, v in path_values.items()}
    if endpoint is FREE_GET:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        initial["path"] = path + (f"?{query}" if query else "")
    else:
        initial |= {f"p_{k}": v for k, v in params.items()}
    initial["sql" if endpoint is SHORT_QUERY else "body"] = body
    return endpoint, initial


class ForwardForm(forms.Form):
    forward_url = forms.URLField(
        required=False, max_length=500, label="Forward each batch to",
        help_text="Your own endpoint; blank stops forwarding. A new signing secret is shown once.",
    )  # fmt: skip
