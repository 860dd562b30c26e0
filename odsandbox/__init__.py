"""odsandbox: a standalone local fake of the Open Dental REST API (no Django imports).

Start it with ``uv run python -m odsandbox --offices 3 --manifest sandbox.json`` (prints
``http://HOST:PORT/api/v1``), or in tests with ``odsandbox.testing.running_sandbox(config)``.
The interface is fixed by CONTRACT-sandbox-client.md; facts follow
/work/shared/opendental-api.md ([V] facts are followed exactly).

Modules: ``config`` (OfficeSpec, SandboxConfig, keys), ``data`` (deterministic generation into
one SQLite file per office) with ``practice`` (its appointment, procedure, insurance,
definition and computer tables), ``store`` (blocking SQLite reads), ``shortquery``
(ShortQuery's screening, statements and answer) and ``mysql`` (the MySQL dialect on SQLite),
``state`` (keys, offices, faults, counters; the Python control surface), ``app`` (Starlette
routes and the request pipeline), ``resources`` (JSON shapes), ``clinical`` (appointments,
operatories, procedures, computers) and ``family`` (Patient Select, insurance, account
ledger), ``dateformat`` (.NET date patterns for DateFormatString/DateTimeFormatString),
``web`` (HTTP helpers), ``throttle``, ``faults``, ``control`` (/_sandbox routes), ``writes``
(POST/PUT /patients), ``subscriptions`` (/subscriptions), ``events`` (API Events delivery),
``testing`` and ``__main__``.

Choices made where the real behaviour is unknown ([U]) or inferred ([I]):

- Throttled requests: 429 "Too many requests." with ``Retry-After`` in whole seconds (the
  wait rounded up, at least 1; RFC 9110 has no fractions and common retry libraries raise on
  them) by default; ``over_limit="delay"`` queues the request until its slot instead,
  ``"400"`` answers 400. Every request starting inside the interval counts as a violation;
  rejected requests do not move the window (start-to-start of admitted requests). A request
  starts when the server reads it off the socket (as a front-end server would stamp it), not
  when a handler gets to it.
- Error bodies are plain text (``text/plain``) with the wording in the contract.
- A missing or malformed Authorization header is 401 (not 400).
- Check order: latency, Content-Type (400), keys (401), throttle, permission (401),
  eConnector (400), query parameters (400), faults, handler. Unknown routes are 404.
- ``Content-Type`` must be exactly ``application/json``; ``; charset=utf-8`` is rejected after
  the third-party report ([I]); ``strict_content_type=False`` / ``--allow-charset`` accepts it.
- Query-parameter and path names are matched case-insensitively (ASP.NET style); unknown
  parameters are 400 "'X' is not a valid parameter." (an endpoint declared with
  ``strict_params=False`` ignores them instead, as a live GET /appointments did [T]).
- DateFormatString / DateTimeFormatString are accepted by every method and applied once, to
  the handler's JSON: every "yyyy-MM-dd" value (any field) is rendered with the first, every
  "yyyy-MM-dd HH:mm:ss" value (serverDateTime too) with the second, as .NET's
  ``DateTime.ToString(pattern)`` does under en-US (``dateformat``; ``z`` is the sandbox
  machine's offset). "No value" dates (0001-01-01) are rendered like any other, and query
  parameters (DateTStamp, Birthdate, ...) are still read in the default formats [U]. Left as
  is: preference ``ValueString`` (a text column that may hold a date) and ShortQuery, which
  accepts both but keeps its own 'T' form (a result table, not API objects) [I]. An empty
  pattern means the default; one .NET would refuse (unclosed quote, trailing backslash or ``%``,
  more than seven ``f``, an unknown one-letter standard format) is 400 "'X' is not a valid
  format: ...".
- GET /providers: ``provColor`` is the stored .NET ARGB integer as "R,G,B". With ClinicNum:
  the non-hidden providers without providerclinic rows (unrestricted) or with one for that
  clinic, each row with ``"serverDateTime": ""`` (the doc's example); ClinicNum 0 ("no
  clinic") gives the unrestricted ones [I]; an unknown clinic is 404 "Clinic not found.".
  ClinicNum and DateTStamp may be combined [I].
- Gender labels include ``Other`` (value 3, after Unknown, as in Open Dental's enum).
- Lists are ordered by primary key; ``Limit`` above the cap is silently capped (observed [T]).
  Caps: ``page_cap`` (100) remotely, 10x for Local/Service offices, another 10x with
  ApiEnterprise. ShortQuery uses the same cap and also accepts ``Limit`` ([I]).
- ``DateTStamp`` filters are inclusive (``>=``), so a client that re-sends the last
  ``serverDateTime`` never misses a change made in the same second (duplicates are harmless).
- patients/Simple never lists deleted patients; ``PatStatus=Deleted`` is 400 "'Deleted' is
  not a valid PatStatus." (the documented filter values exclude it).
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
- ShortQuery (``shortquery``, ``mysql``): the command is MySQL, transpiled per statement to
  SQLite by sqlglot (MySQL functions SQLite lacks are Python functions on the connection;
  NOW()/CURDATE() are the local clock). Several statements may be separated by ``;``: queries,
  ``SET @var := ...`` user variables (names case-insensitive, unset ones NULL) and temporary
  tables (CREATE TEMPORARY TABLE, INSERT/UPDATE/DELETE/ALTER/TRUNCATE on them, DROP), which
  live for the request. The answer is the last query's rows ([I]; earlier queries run, their
  rows are dropped), ``[]`` when there is none. Anything else (a write or DDL on a real table,
  SET GLOBAL/SESSION, SELECT ... INTO [OUTFILE], ATTACH, PRAGMA, transactions, ...) is 401 "Query is
  not read-only." (the real text is roughly "not read-only or is not executing on temporary
  tables"), screened on sqlglot's AST with SQLite's authorizer as the backstop (writes only
  to the temp database). Syntax errors are 400 "Error in SQL: You have an error in your SQL
  syntax; ... near '...' at line n" (MySQL's wording); SQLite's errors are 400 "Error in SQL:
  <message>"; null bytes (also the ``\\0`` escape) are 400; SHOW/DESCRIBE are 400 (not
  supported). Keys are the names as written (alias, column name, or the expression's source
  text); columns from ``*`` take the declared names; a repeated name gets 1, 2, ... appended
  (.NET DataTable style, [I]). Only columns sqlglot's optimizer types DATE/DATETIME/TIMESTAMP
  (declared types of the office file, CURDATE(), DATE_SUB(...), CAST(... AS DATE), ...) come
  back ``yyyy-MM-ddTHH:mm:ss``; other values come back as stored, numbers as numbers.
  Comparisons (=, <>, <, >, IN) with a text literal ignore ASCII case, LIKE ignores ASCII case
  (SQLite's own), as MySQL's default collation does; an explicit ``COLLATE x_ci`` is NOCASE,
  any other collation BINARY. ORDER BY and GROUP BY on text stay case-sensitive, accents are
  not folded, and trailing spaces count. Offset/Limit page the
  answer inside SQL (combined with the query's own LIMIT). Past ``request_timeout_s``: 504.
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
- Patient writes (ApiPatients): body field names match case-insensitively; unknown and
  read-only fields (PatNum, EstBalance, priProvAbbr, ...) and nulls are ignored. Enums are
  labels (case-insensitive; PatStatus ``Deleted`` is refused), dates ``yyyy-MM-dd`` (``""``
  clears a date to 0001-01-01), numbers are JSON integers or digit strings; PriProv, SecProv,
  ClinicNum, Guarantor and SuperFamily must name existing rows (400 "X n does not exist.");
  BillingType is one of the sandbox's billing type names; Zip formats and the 15-character
  ChartNumber are enforced; a blank LName/FName is 400. 400 texts are ours.
- POST /patients defaults: PatStatus Patient, Gender Unknown, Position Single, BillingType
  "Standard Account", PriProv 1 (the practice default), Guarantor the new PatNum (a given
  Guarantor must head a household), ImageFolder LNameFNamePatNum; DateTStamp and SecDateEntry
  are the office clock. Location is an absolute URL on the host the request used.
- Duplicate check ([I] from "LName, FName, Birthdate, and Email or phone numbers"): same LName
  and FName (case-insensitive) and Birthdate as a non-deleted patient and, when the new patient
  gives an email or phones, one of them equal (phones compared by digits); without contact
  details name and birthdate decide. Answer: 400 "Patient already exists (PatNum n).".
- PUT /patients: a deleted patient is 400; Guarantor changes follow the documented rule (a
  member becomes guarantor only via the current guarantor, whose family aging then moves to the
  new head's row); moving a patient to another family does not recompute balances.
- Writes persist in the office's SQLite file for the life of the process and, with
  ``--data-dir``, across restarts on the same day. The file is regenerated when its signature
  changes (a restart on a later day), which drops writes and subscriptions: generated data is
  a function of the date.
- Subscriptions: the ``apisubscription`` table (PK ``ApiSubscriptionNum``, shown as
  SubscriptionNum) is created on first use, not by the generator. GET pages with Limit/Offset.
  PUT answers 200 with the subscription as it now is (the doc shows only 200); DELETE answers
  200 with an empty body and, like GET/POST/PUT, needs only ApiReadAll. Another key's
  subscription is 404. EndPointUrl must be http(s); PollingSeconds a positive whole number,
  only for WatchTable subscriptions; WatchTable/UiEventType match case-insensitively and
  cannot be changed by PUT (400). Every documented WatchTable is accepted, but only those in
  ``events.WATCH_TABLES`` fire (Patient, Provider, Appointment, Operatory); UI events never
  fire (there is no UI).
- API Events: each office has one simulated workstation that fires every subscription
  whatever its Workstation names; the ``Workstation`` header is the subscription's, or
  ``ODSANDBOX-WS1`` when blank. Polls start right after a subscription is created and then
  once per PollingSeconds (ticks of ``events_tick_s``). A poll takes rows with
  ``DateTimeStart <= DateTStamp <= poll time`` (whole seconds), never reaching back more than
  3 days (also when DateTimeStart was set further back); rows of the poll's own second that
  went out are remembered in memory so the next poll does not send them again. DateTimeStart
  becomes the poll time after a poll whose batches all got a 2xx, or that found nothing; one
  failed batch (connection error, timeout ``events_timeout_s`` = 5 s, non-2xx) fails the poll
  and its earlier batches go out again. Redirects are not followed. Bodies omit
  ``serverDateTime``. eConnector-down and the key's HQ status do not stop delivery (the
  workstation posts directly); the ``workstation_off`` fault does; an expired DateTimeStop
  stops it; a DateTimeStart in the future delays it. The loop polls offices whose database
  is open, or current on disk (subscriptions kept in ``--data-dir`` fire after a restart); it
  never generates a missing or stale file itself (the first request does).
- Control: ``POST /_sandbox/offices/{key}/touch`` with ``{"table": "patient"|"provider",
  "count": n}`` (the first n rows by PK) or ``"PKs": [...]`` (``{"PatNums": [...]}`` still
  works) stamps the rows with the office clock and answers ``{"DateTStamp", "PKs"}``.
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
