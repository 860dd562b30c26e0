"""odsandbox: a standalone local fake of the Open Dental REST API (no Django imports).

Start it with ``uv run python -m odsandbox --offices 3 --manifest sandbox.json`` (prints
``http://HOST:PORT/api/v1``), or in tests with ``odsandbox.testing.running_sandbox(config)``.
The interface is fixed by CONTRACT-sandbox-client.md; facts follow
/work/shared/opendental-api.md ([V] facts are followed exactly).

Modules: ``config`` (OfficeSpec, SandboxConfig, keys), ``data`` (deterministic generation into
one SQLite file per office) with ``practice`` (its appointment, procedure, insurance,
definition and computer tables), ``store`` (blocking SQLite reads and ShortQuery), ``state``
(keys, offices, faults, counters; the Python control surface), ``app`` (Starlette routes and
the request pipeline), ``resources`` (JSON shapes), ``clinical`` (appointments, operatories,
procedures, computers) and ``family`` (Patient Select, insurance, account ledger), ``web``
(HTTP helpers), ``throttle``, ``faults``, ``control`` (/_sandbox routes), ``testing`` and
``__main__``.

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
  status changes (portal PUT, faults) take effect on the next request (the real gateway may
  take minutes). Developer Portal PUT cannot re-enable a key disabled by the customer or HQ
  (400). Unassigned keys are 401 "Customer key is not assigned to an office.".
- Faults: ``html_error`` is a 502 HTML page; ``status_429`` is a 429 with Retry-After 1;
  ``timeout`` waits for ``request_timeout_s`` then 504 (``timeout_immediate`` answers at once);
  ``times`` limits response faults to the next n requests. eConnector-down applies only to
  Remote offices. Control routes refuse any ``ODFHIR`` Authorization header (403).
- Time: every date is the sandbox machine's local clock (offices share one time zone).
- Practice data: ~1.8 appointments per patient over the 18 months before and 2 months after
  the build date, weekdays 8:00-17:00, on operatories sized to the office (alternately doctor
  and hygiene chairs, plus one hidden); past ones Complete (90%), Broken or UnschedList,
  future ones Scheduled, ASAP or Planned (Planned: Op 0, procedures via PlannedAptNum).
  Procedures are CDT codes at one fee schedule (53); ~55% of families are insured. Every
  chair in use has a provider schedule (SchedType Provider, 8:00-17:00) each business day.
  GET /operatories lists hidden chairs too ("Gets a list of all operatories"). DateTStamps
  never pass the build date's midnight.
- Parameters: GET /appointments (list and single) ignores unknown parameters (the live API
  accepted ``fields``); every other route stays strict. GET /appointments lists every status.
- GET /patients (Patient Select): LName, FName, City, State, ChartNumber, clinicAbbr and
  SubscriberId match as prefixes, Address/Address2 and Email anywhere, Phone and SSN by their
  digits anywhere in any phone; deleted patients never appear; archived and deceased ones only
  with showArchived=true; sorted by LName, FName, PatNum (the doc's example lists Jane before
  John); Country matches nobody (no Country column: US offices leave it blank), invoiceNumber
  matches nobody (no statements); booleans other than true/false are 400.
- Appointment writes (ApiAppointments): POST needs PatNum, Op, AptDateTime (400 "X is
  required."); an unknown patient is 404, an unknown Op, provider, clinic or definition 400
  naming the field; unknown body fields are ignored; ClinicNum defaults to the operatory's
  clinic, else the patient's; InsPlan1/2 come from the patient's patplans. PUT cannot change
  PatNum, an empty body is 400, and AptStatus Complete completes the attached TP procedures.
  Writes set DateTStamp to the office clock. PUT Confirm takes exactly one of confirmVal or
  defNum and answers 200 with an empty body; confirmVal maps through the
  ApptEConfirmStatus* preferences, "None" is the first Appt Confirmed definition.
- Procedure logs: ProcFee is a string with two decimals and serverDateTime comes last, as on
  the apiprocedurelogs page; DateTStamp filters are inclusive like the others.
- PatientBalances and ServiceDateView are 404 for an unknown patient and 400 for a deleted one
  (as Aging). PatientBalances leaves deleted members out and prints whole balances without
  decimals (the live ``"Balance":0``). ServiceDateView derives the credits (no payment table
  is generated): each member's newest charges stay unpaid up to their EstBalance, the rest
  shows as attached patient payments (PrimaryKey = the ProcNum); a balance above the charges
  is a "Balance forward" adjustment, a credit an unallocated payment; "Day Total" lines carry
  the day's net and a last "Overall Total" line the balance.
- GET /computers: eight workstations, one switched off (a weeks-old heartbeat); running ones
  beat within the last 20 s. While eConnector-down is on, every heartbeat stays at the moment
  the fault went on (seen on Local/Service offices; Remote ones answer 400). The computer
  table keeps its generated values.
"""
