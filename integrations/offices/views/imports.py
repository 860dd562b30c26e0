"""Import offices and keys into a developer account (CSV or a sandbox manifest)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from integrations.accounts import access
from integrations.accounts.selectors import get_account_for_user
from integrations.accounts.views import account_page_context
from integrations.offices.forms import ImportForm
from integrations.offices.services.imports import offices_import
from odportal.lib.forms import posted


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
def account_import(request: HttpRequest, public_id) -> HttpResponse:
    """Upload offices and keys (CSV or sandbox manifest) and show a per-row result."""
    account = get_account_for_user(request.user, public_id)
    access.require_actor(request, account)
    form = ImportForm(posted(request), request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = offices_import(
                account=account,
                actor=request.user,
                source=upload.read(),
                filename=upload.name,
                base_url_override=form.cleaned_data["base_url"] or None,
                confirmed_hosts=form.confirmed_hosts(),
            )
        except ValidationError as exc:
            form.add_error("file", exc.messages)
        else:
            if result.hosts_to_confirm:
                form.ask_confirmation(result.hosts_to_confirm)
    ctx = account_page_context(request, account, "import", form=form, result=result)
    return render(request, "offices/import.html", ctx)
