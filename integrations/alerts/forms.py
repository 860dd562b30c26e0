"""One form per alerts action."""

from __future__ import annotations

from django import forms

from integrations.alerts.models import AlertSettings, ChannelKind
from integrations.alerts.services.incidents import MUTE_HOURS_MAX

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class AlertSettingsForm(forms.ModelForm):
    quiet_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        label="Closed days", help_text="Quiet all day, in each office's time zone.",
    )  # fmt: skip

    class Meta:
        model = AlertSettings
        fields = ["grace_polls", "quiet_start", "quiet_end", "quiet_days", "repeat_hours"]
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}),
        }

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


class MuteForm(forms.Form):
    hours = forms.IntegerField(min_value=0, max_value=MUTE_HOURS_MAX, initial=4)
