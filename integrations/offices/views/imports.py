"""Import offices and keys into a developer account (CSV or a sandbox manifest).

The upload is checked while the user waits (format, size, header, row count) and imported by a
worker; the job's page shows its progress (htmx polls it while it runs) and then its results.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from integrations.accounts import access
from integrations.accounts.selectors import get_account_for_user
from integrations.accounts.views import account_page_context
from integrations.offices.forms import ImportForm
from integrations.offices.selectors import imports as selectors
from integrations.offices.services.imports import (
    CSV_COLUMNS,
    TEMPLATE_ROWS,
    import_hosts_to_confirm,
    import_job_create,
)
from odportal.lib.csv import csv_download, download_name
from odportal.lib.forms import posted, service_errors_to_form
from odportal.lib.htmx import render_page, wants_partial

ROWS_PAGE_SIZE = 500
HTMX_STOP_POLLING = 286


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
@sensitive_variables()  # the upload's rows hold customer keys
def account_import(request: HttpRequest, public_id) -> HttpResponse:
    """Upload offices and keys (CSV or sandbox manifest); a valid file goes to the workers."""
    account = get_account_for_user(request.user, public_id)
    access.require_actor(request, account)
    form = ImportForm(posted(request), request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        upload_args = {
            "source": upload.read(), "filename": upload.name,
            "base_url_override": form.cleaned_data["base_url"] or None,
            "confirmed_hosts": form.confirmed_hosts(),
        }  # fmt: skip
        try:
            unconfirmed = import_hosts_to_confirm(**upload_args)
            if unconfirmed:  # keys would go to new servers: the owner confirms them first
                form.ask_confirmation(unconfirmed)
            else:
                job = import_job_create(account=account, actor=request.user, **upload_args)
                return redirect("import_job", public_id=job.public_id)
        except ValidationError as exc:
            _upload_errors_to_form(form, exc)
    jobs = selectors.import_jobs_recent(account)
    ctx = account_page_context(request, account, "import", form=form, jobs=jobs)
    return render(request, "offices/import.html", ctx)


@require_GET
def account_import_template(request: HttpRequest, public_id) -> StreamingHttpResponse:
    """A CSV to fill in: the header the import reads and one example row per API mode."""
    account = get_account_for_user(request.user, public_id)
    return csv_download(
        download_name("offices import template", account.company_name),
        CSV_COLUMNS,
        TEMPLATE_ROWS,
        text_columns=("name", "reference", "notes"),
    )


def _upload_errors_to_form(form: ImportForm, exc: ValidationError) -> None:
    """What is wrong with the file goes on the file field; the rest at the top of the form."""
    if hasattr(exc, "error_dict"):
        service_errors_to_form(form, exc)
    else:
        form.add_error("file", exc.messages)


@require_GET
def import_job(request: HttpRequest, public_id) -> HttpResponse:
    """An import's progress and, once it has finished, its per-row results; htmx polls the
    progress while the job runs and gets 286 (stop polling) once it has finished."""
    job = selectors.get_import_job_for_user(request.user, public_id)
    access.require_actor(request, job.account)
    page = None
    if not job.is_active:
        rows = Paginator(selectors.import_job_rows(job), ROWS_PAGE_SIZE)
        page = rows.get_page(request.GET.get("page"))
    finished = wants_partial(request) and not job.is_active
    ctx = account_page_context(request, job.account, "import", job=job, page=page)
    status = HTMX_STOP_POLLING if finished else 200
    return render_page(request, "offices/import_job.html", ctx, "job", status=status)
