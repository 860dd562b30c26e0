"""odsandbox: a standalone local fake of the Open Dental REST API (no Django imports).

Start it with ``uv run python -m odsandbox --offices 3 --manifest sandbox.json`` (prints
``http://HOST:PORT/api/v1``), or in tests with ``odsandbox.testing.running_sandbox(config)``.
The interface is fixed by CONTRACT-sandbox-client.md; facts follow
/work/shared/opendental-api.md ([V] facts are followed exactly).

Modules: ``config`` (OfficeSpec, SandboxConfig, keys), ``data`` (deterministic generation into
one SQLite file per office), ``store`` (blocking SQLite reads and ShortQuery), ``state``
(keys, offices, faults, counters; the Python control surface), ``app`` (Starlette routes and
the request pipeline), ``resources`` (JSON shapes), ``web`` (HTTP helpers), ``throttle``,
``faults``, ``control`` (/_sandbox routes), ``testing`` and ``__main__``.

Choices made where the real behaviour is unknown ([U]) or inferred ([I]):

- Throttled requests: 429 "Too many requests." with ``Retry-After`` in decimal seconds by
  default; ``over_limit="delay"`` queues the request until its slot instead, ``"400"`` answers
  400. Every request starting inside the interval counts as a violation; rejected requests do
  not move the window (start-to-start of admitted requests). A request starts when the server
  reads it off the socket (as a front-end server would stamp it), not when a handler gets to it.
- Error bodies are plain text (``text/plain``) with the wording in the contract.
- A missing or malformed Authorization header is 401 (not 400).
- Check order: latency, Content-Type (400), keys (401), throttle, permission (401),
  eConnector (400), query parameters (400), faults, handler. Unknown routes are 404.
- ``Content-Type`` must be exactly ``application/json``; ``; charset=utf-8`` is rejected after
  the third-party report ([I]); ``strict_content_type=False`` / ``--allow-charset`` accepts it.
- Query-parameter and path names are matched case-insensitively (ASP.NET style); unknown
  parameters are 400 "'X' is not a valid parameter.". DateFormatString/DateTimeFormatString
  are not implemented (rejected as unknown parameters).
- Lists are ordered by primary key; ``Limit`` above the cap is silently capped (observed [T]).
  Caps: ``page_cap`` (100) remotely, 10x for Local/Service offices, another 10x with
  ApiEnterprise. ShortQuery uses the same cap and also accepts ``Limit`` ([I]).
- ``DateTStamp`` filters are inclusive (``>=``), so a client that re-sends the last
  ``serverDateTime`` never misses a change made in the same second (duplicates are harmless).
- patients/Simple omits deleted patients (PatStatus Deleted) unless PatStatus is given.
  GET /accountmodules/{n}/Aging on a deleted patient is 400 "Patient is deleted.".
- Account aging: ``Total`` = guarantor BalTotal, ``EstBal`` = Total - InsEst, ``PatEstBal`` =
  the requested patient's own EstBalance, ``Unearned`` = 0.
- Data: BalTotal equals the bucket sum; credits sit in Bal_0_30 (Open Dental applies credits
  oldest first); the family's EstBalance values sum to BalTotal; InsEst <= positive balance.
  ``guarantors`` counts families with a non-zero balance exactly; about
  ``zero_balance_fraction`` (25%) more families owe nothing. DateTStamps fall in the two
  years before today's midnight (deterministic per day). DateLastAging is the office server's
  local date when the file is generated (a cached file is regenerated on a new day).
- /reports/Aging: rows for guarantors with a non-zero balance as of DateAsOf, PatNum order.
  For DateAsOf != today the buckets shift one bucket per whole 30 days (see
  ``resources.shift_buckets``: back in time today's 0-30 charges vanish and half of >90 was
  61-90; forward everything ages; credits stay in 0-30). InsWoEst is 0 and InsPayEst is
  InsEst (capped at the shifted balance). It waits ``report_latency_ms`` (250 ms) extra.
- ShortQuery: statements starting with a write keyword, or that SQLite's authorizer sees doing
  anything but SELECT/READ/FUNCTION/RECURSIVE, are 401 "Query is not read-only." (temporary
  tables are therefore refused); other SQLite errors are 400 "Error in SQL: <message>".
  Connections are read-only. Plain column references are keyed as written (MySQL behaviour);
  values that look like dates or datetimes come back ``yyyy-MM-ddTHH:mm:ss``. MySQL's CONCAT,
  NOW, CURDATE and IF are provided. A query running past ``request_timeout_s`` gives 504.
- Keys: the public test pair maps to "Open Dental Test Office" (listed in the manifest under
  ``test_office``, not in ``offices``); its customer key also accepts our developer key. Key
  status changes through faults take effect on the next request; through the Developer Portal
  PUT after ``portal_propagation_s`` (default 0; the real gateway may take minutes, [I]); the
  portal lists the new status at once. Developer Portal PUT cannot re-enable a key disabled by
  the customer or HQ (400). Unassigned keys are 401 "Customer key is not assigned to an
  office.".
- Developer Portal (newer page): every key carries ``DevRefId`` ("" unless set; the offices'
  own keys start with ""). POST /apikeys takes an optional body ``{"DevRefId": ...}`` ([U]:
  the page shows DevRefId on keys, not on the POST). PUT takes ``CustomerKey`` plus optional
  ``KeyStatus`` and ``DevRefId``; neither is 400. Portal faults (``/_sandbox/portal/faults``):
  ``reject_portal_key`` (401 "Invalid developer portal key.", as after a reset), ``status_500``,
  ``timeout`` (504 after ``request_timeout_s``), applied after the key check.
- Faults: ``html_error`` is a 502 HTML page; ``status_429`` is a 429 with Retry-After 1;
  ``timeout`` waits for ``request_timeout_s`` then 504 (``timeout_immediate`` answers at once);
  ``times`` limits response faults to the next n requests. eConnector-down applies only to
  Remote offices. Control routes refuse any ``ODFHIR`` Authorization header (403).
- Time: every date is the sandbox machine's local clock (offices share one time zone).
"""
