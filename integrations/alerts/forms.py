"""One form per alerts action."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms

from integrations.alerts.models import INCIDENT_CAUSES, AlertSettings, ChannelKind
from integrations.alerts.services.incidents import MUTE_HOURS_MAX

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class AlertSettingsForm(forms.ModelForm):
    quiet_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        label="Closed days", help_text="Quiet all day, in each office's time zone.",
    )  # fmt: skip

    class Meta:
        model = AlertSettings
        fields = ["grace_polls", "quiet_start", "quiet_end", "quiet_days", "repeat_hours",
                  "digest_hour", "digest_time_zone", "aging_drift_pct"]  # fmt: skip
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}),
            "digest_hour": forms.NumberInput(attrs={"min": 0, "max": 23}),
        }
        labels = {"digest_time_zone": "Digest time zone", "aging_drift_pct": "Aging drift (%)"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["digest_time_zone"].required = False  # empty: UTC

    def clean_digest_hour(self):
        hour = self.cleaned_data.get("digest_hour")
        if hour is not None and not 0 <= hour <= 23:
            raise forms.ValidationError("An hour from 0 to 23.")
        return hour

    def clean_digest_time_zone(self):
        name = (self.cleaned_data.get("digest_time_zone") or "UTC").strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(
                f"Not a time zone: {name!r} (e.g. America/Chicago)."
            ) from None
        return name

    def clean(self):
        data = super().clean()
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            raise forms.ValidationError("Give both ends of the quiet hours, or neither.")
        return data


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(choices=ChannelKind.choices)
    name = forms.CharField(max_length=100)
    target = forms.CharField(
        label="Addresses or URL", required=False, max_length=2000,
        help_text="Email: comma-separated addresses (empty: every member). Webhook: its URL. "
        "Chat: an Apprise URL (slack://..., msteams://..., discord://...).",
    )  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("kind") in (ChannelKind.WEBHOOK, ChannelKind.CHAT) and not data.get("target"):
            self.add_error("target", "This channel needs its URL.")
        return data


class ChannelRulesForm(forms.Form):
    causes = forms.MultipleChoiceField(
        choices=INCIDENT_CAUSES, required=False, widget=forms.CheckboxSelectMultiple,
        label="Receives", help_text="None ticked: every cause.",
    )  # fmt: skip
    digest_only = forms.MultipleChoiceField(
        choices=INCIDENT_CAUSES, required=False, widget=forms.CheckboxSelectMultiple,
        label="Digest only", help_text="These wait for the daily digest: no message of their own.",
    )  # fmt: skip


class MuteForm(forms.Form):
    hours = forms.IntegerField(min_value=0, max_value=MUTE_HOURS_MAX, initial=4)
