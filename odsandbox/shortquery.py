"""PUT /queries/ShortQuery: Open Dental's read-only SQL, in its MySQL dialect, on an office file.

A command is split into statements and planned once per text (``_plan`` is cached: the product
sends the same SQL with another Offset): each statement is screened on sqlglot's AST, then
transpiled to SQLite (``mysql.OfficeSQLite``). Allowed are queries, ``SET @var := ...`` user
variables and temporary tables (create, fill, change, drop); anything else is "not
read-only". SQLite's authorizer is the backstop: on a connection opened read-only, it lets
statements write only to the ``temp`` database, which lives for the request.

The answer is the last query's rows, one page (LIMIT/OFFSET put into that query), keyed by the
names as written in the SQL; columns sqlglot's optimizer types DATE/DATETIME (declared types of
the office file, or date expressions) come back in the ``T`` form.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.tokens import Token, TokenType

from odsandbox import mysql

Row = dict[str, Any]
Tables = dict[str, dict[str, str]]  # table -> column -> declared type, names lower-cased

_PAGE_LIMIT, _PAGE_OFFSET = "_page_limit", "_page_offset"
_DATE_TYPES = frozenset(
    {
        exp.DType.DATE,
        exp.DType.DATE32,
        exp.DType.DATETIME,
        exp.DType.DATETIME2,
        exp.DType.DATETIME64,
        exp.DType.SMALLDATETIME,
        exp.DType.TIMESTAMP,
        exp.DType.TIMESTAMPLTZ,
        exp.DType.TIMESTAMPNTZ,
        exp.DType.TIMESTAMPTZ,
    }
)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
# First words of statements that change something, for commands sqlglot cannot parse at all
# (ATTACH, LOAD DATA, HANDLER ...): those are refused as not read-only rather than as bad SQL.
_WRITE_WORDS = frozenset(
    [
        "insert",
        "update",
        "delete",
        "replace",
        "drop",
        "create",
        "alter",
        "truncate",
        "rename",
        "grant",
        "revoke",
        "lock",
        "unlock",
        "load",
        "call",
        "handler",
        "do",
        "attach",
        "detach",
        "vacuum",
        "reindex",
        "pragma",
        "begin",
        "commit",
        "rollback",
        "savepoint",
        "release",
        "analyze",
        "optimize",
        "repair",
        "flush",
        "kill",
        "install",
        "uninstall",
        "prepare",
        "execute",
    ]
)
_LIST_END = frozenset(
    {
        TokenType.FROM,
        TokenType.INTO,
        TokenType.WHERE,
        TokenType.GROUP_BY,
        TokenType.HAVING,
        TokenType.ORDER_BY,
        TokenType.LIMIT,
        TokenType.UNION,
        TokenType.EXCEPT,
        TokenType.INTERSECT,
        TokenType.WINDOW,
        TokenType.FOR,
        TokenType.SEMICOLON,
    }
)
_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
# Writes SQLite may do on the temp database: rows of temporary tables and their schema rows
# (CREATE_TABLE there is sqlite_sequence, for an AUTO_INCREMENT column).
_TEMP_WRITES = frozenset(
    {
        sqlite3.SQLITE_CREATE_TABLE,
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_CREATE_TEMP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_INDEX,
        sqlite3.SQLITE_DROP_TEMP_INDEX,
        sqlite3.SQLITE_REINDEX,
    }
)


class QueryNotReadOnly(Exception):
    """The ShortQuery SQL would modify something other than a temporary table."""


class QueryError(Exception):
    """The ShortQuery SQL failed to parse or run; the message says why."""


class QueryTimeout(Exception):
    """The ShortQuery SQL ran past the request time limit."""


@dataclass(frozen=True, eq=False)  # hashed by identity: one per office store, a cache key
class Schema:
    """The office file's tables with their declared column types (what decides the T form)."""

    tables: Tables

    @classmethod
    def of(cls, conn: sqlite3.Connection) -> Schema:
        """Read the declared types with PRAGMA table_info (trusted, before any user SQL)."""
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return cls(
            {
                name.lower(): {
                    col.lower(): (ctype or "TEXT")
                    for _, col, ctype, *_ in conn.execute(f"PRAGMA table_info('{name}')")
                }
                for name in names
            }
        )


@dataclass(frozen=True)
class Step:
    """One SQLite statement of the plan and the user variables it reads."""

    sql: str
    params: tuple[str, ...]
    assign: str | None = None  # SET @assign := the value this SELECT returns
    answer: bool = False


@dataclass(frozen=True)
class Plan:
    """A command's statements for SQLite, and how to key and format the answer's columns."""

    steps: tuple[Step, ...]
    head: tuple[str, ...] = ()  # answer names as written, before the first * (all without *)
    tail: tuple[str, ...] = ()  # ... after the last *
    star: bool = False
    dates: tuple[bool, ...] = ()  # per output column: DATE/DATETIME (T form)


@dataclass
class _Planner:
    """Walks the statements in order, tracking the temporary tables they create and drop."""

    schema: Schema
    temp: Tables = field(default_factory=dict)

    def tables(self) -> Tables:
        return {**self.schema.tables, **self.temp}

    def steps(self, stmt: exp.Expr, answer: bool) -> list[Step]:
        if isinstance(stmt, exp.Query):
            if stmt.find(exp.Into):
                raise QueryNotReadOnly  # SELECT ... INTO writes a variable or a file
            return [_step(_paged(stmt), answer=True) if answer else _step(stmt)]
        if isinstance(stmt, exp.Set):
            return [_assignment(item) for item in stmt.expressions]
        if isinstance(stmt, exp.Create):
            return self._create(stmt)
        if isinstance(stmt, exp.Drop):
            return self._drop(stmt)
        if isinstance(stmt, exp.TruncateTable):
            self._require_temp(stmt.expressions)
            return [_step(exp.delete(t)) for t in stmt.expressions]
        if isinstance(stmt, (exp.Insert, exp.Update, exp.Delete, exp.Alter)):
            self._require_temp(_targets(stmt))
            return [_step(stmt)]
        if isinstance(stmt, (exp.Condition, exp.Alias)):  # 'SELEC x' parses as a bare alias
            raise QueryError(_syntax_message(stmt.sql("mysql"), 1))
        if isinstance(stmt, (exp.Describe, exp.Show)):
            raise QueryError(f"{stmt.key.upper()} is not supported by the sandbox")
        raise QueryNotReadOnly

    def _create(self, stmt: exp.Create) -> list[Step]:
        props = stmt.args.get("properties")
        temporary = props is not None and any(
            isinstance(p, exp.TemporaryProperty) for p in props.expressions
        )
        if stmt.kind != "TABLE" or not temporary:
            raise QueryNotReadOnly
        table = stmt.this.this if isinstance(stmt.this, exp.Schema) else stmt.this
        if isinstance(stmt.this, exp.Schema):
            columns = {
                c.name.lower(): c.args["kind"].sql("mysql")
                for c in stmt.this.expressions
                if isinstance(c, exp.ColumnDef) and c.args.get("kind") is not None
            }
        else:
            query = stmt.expression.unnest() if stmt.expression else None
            types = (_output_types(query, self.tables()) or []) if query else []
            columns = {name: exp.DataType(this=t).sql("mysql") for name, t in types}
        self.temp[table.name.lower()] = columns
        return [_step(stmt)]

    def _drop(self, stmt: exp.Drop) -> list[Step]:
        if stmt.kind != "TABLE":
            raise QueryNotReadOnly
        steps = []
        for table in stmt.args.get("tables") or []:
            name = table.name.lower()
            if name not in self.temp or table.args.get("db"):
                if not stmt.args.get("temporary"):
                    raise QueryNotReadOnly
                if not stmt.args.get("exists"):
                    raise QueryError(f"Unknown table '{table.name}'")
                continue
            del self.temp[name]
            one = exp.Drop(
                kind="TABLE", exists=stmt.args.get("exists"), tables=[exp.table_(name, db="temp")]
            )
            steps.append(_step(one))
        return steps

    def _require_temp(self, tables: list[exp.Expr]) -> None:
        for table in tables:
            if (
                not isinstance(table, exp.Table)
                or table.args.get("db")
                or table.name.lower() not in self.temp
            ):
                raise QueryNotReadOnly


def run(
    path: str, schema: Schema, sql: str, offset: int, limit: int, timeout_s: float
) -> list[Row]:
    """One page of the command's answer; raises QueryNotReadOnly / QueryError / QueryTimeout."""
    plan = _plan(sql, schema)
    denied: list[int] = []
    conn = connect(path, timeout_s, denied)
    try:
        rows, description = _execute(conn, plan, limit, offset)
    except sqlite3.Error as exc:
        raise _classify(exc, denied) from exc
    finally:
        conn.close()
    names = _unique(_names(plan, [d[0] for d in description]))
    dates = plan.dates if len(plan.dates) == len(names) else (False,) * len(names)
    return [
        {n: (_t_form(v) if d else v) for n, d, v in zip(names, dates, row, strict=True)}
        for row in rows
    ]


@functools.lru_cache(maxsize=512)
def _plan(sql: str, schema: Schema) -> Plan:
    """Screen and transpile a command (cached by text: pages differ only in their bindings)."""
    statements, chunks = _parse(sql)
    queries = [i for i, s in enumerate(statements) if isinstance(s, exp.Query)]
    answer = queries[-1] if queries else None
    planner = _Planner(schema)
    steps: list[Step] = []
    shape: dict[str, Any] = {}
    for i, stmt in enumerate(statements):
        if i == answer:  # typed against the temporary tables created before it
            shape = _answer_shape(stmt, chunks[i] if chunks else None, sql, planner.tables())
        steps.extend(planner.steps(stmt, answer=i == answer))
    return Plan(tuple(steps), **shape)


def _parse(sql: str) -> tuple[list[exp.Expr], list[list[Token]] | None]:
    """The statements (normalized MySQL ASTs) and, where they line up, each one's tokens."""
    if "\x00" in sql:
        raise QueryError("null bytes are not allowed in SQL; use CHAR(0)")
    try:
        statements = [s for s in sqlglot.parse(sql, read="mysql") if s is not None]
    except (ParseError, TokenError) as exc:
        if _starts_a_write(sql):
            raise QueryNotReadOnly from exc
        raise QueryError(_parse_message(exc)) from exc
    if any(
        lit.is_string and "\x00" in lit.this for s in statements for lit in s.find_all(exp.Literal)
    ):
        raise QueryError("null bytes are not allowed in SQL; use CHAR(0)")
    chunks = _chunks(MySQL().tokenize(sql))
    statements = [s.transform(_normalize, copy=False) for s in statements]
    return statements, chunks if len(chunks) == len(statements) else None


def _parse_message(exc: ParseError | TokenError) -> str:
    errors = getattr(exc, "errors", None)
    if not errors:
        return str(exc).splitlines()[0]
    e = errors[0]
    return _syntax_message(f"{e.get('highlight') or ''}{e.get('end_context') or ''}", e["line"])


def _syntax_message(near: str, line: int) -> str:
    """A syntax error worded as MySQL words it [I]."""
    return (
        "You have an error in your SQL syntax; check the manual that corresponds to your MySQL "
        f"server version for the right syntax to use near '{near}' at line {line}"
    )


def _chunks(tokens: list[Token]) -> list[list[Token]]:
    """Tokens per statement, split at semicolons as sqlglot splits them."""
    chunks: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            chunks.append([])
        else:
            chunks[-1].append(tok)
    return [c for c in chunks if c]


def _starts_a_write(sql: str) -> bool:
    """Whether any statement (of a command sqlglot cannot parse) begins with a write keyword,
    or writes a file (SELECT ... INTO OUTFILE)."""
    try:
        chunks = _chunks(MySQL().tokenize(sql))
    except TokenError:
        return False
    for chunk in chunks:
        if any(t.text.lower() in ("outfile", "dumpfile") for t in chunk):
            return True
        words = [t.text.lower() for t in chunk[:2]]
        temporary = words[0] in ("create", "drop") and words[1:] == ["temporary"]
        if words[0] in _WRITE_WORDS and not temporary:
            return True
    return False


def _normalize(node: exp.Expr) -> exp.Expr:
    """Give NOW() and ``x +/- INTERVAL n unit`` the nodes sqlglot types and transpiles."""
    if isinstance(node, exp.Anonymous) and node.name.upper() in ("NOW", "SYSDATE"):
        return exp.CurrentTimestamp()
    if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
        kind = exp.DateAdd if isinstance(node, exp.Add) else exp.DateSub
        return _shifted(kind, node.this, node.expression)
    if isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
        return _shifted(exp.DateAdd, node.expression, node.this)
    return node


def _shifted(kind: type[exp.Func], value: exp.Expr, interval: exp.Interval) -> exp.Expr:
    """DATE_ADD/DATE_SUB as MySQL's parser builds them (amount and unit apart)."""
    value = value.transform(_normalize)  # transform() does not revisit a replaced node's children
    return kind(this=value, expression=interval.this, unit=interval.args.get("unit"))


def _step(stmt: exp.Expr, answer: bool = False) -> Step:
    tree = stmt.transform(_for_sqlite)
    params = tuple(sorted({p.name for p in tree.find_all(exp.Placeholder)}))
    sql = tree.sql(dialect=mysql.OfficeSQLite, unsupported_level=ErrorLevel.IGNORE)
    return Step(sql, params, answer=answer)


def _assignment(item: exp.Expr) -> Step:
    """``SET @v := expr`` as ``SELECT expr``, whose value the run stores for later statements."""
    assign = item.this if isinstance(item, exp.SetItem) else None
    if (
        item.args.get("kind")
        or not isinstance(assign, (exp.EQ, exp.PropertyEQ))
        or not isinstance(assign.this, exp.Parameter)
    ):
        raise QueryNotReadOnly  # SET GLOBAL/SESSION/NAMES: server settings, not user variables
    step = _step(exp.select(assign.expression))
    return Step(step.sql, step.params, assign=assign.this.name.lower())


def _for_sqlite(node: exp.Expr) -> exp.Expr:
    """User variables become named parameters; text comparisons get MySQL's case-insensitivity."""
    if isinstance(node, exp.Parameter):
        return exp.Placeholder(this=node.name.lower())
    if isinstance(node, exp.Collate):  # a MySQL collation by its case rule: _ci or binary
        name = node.expression.name.upper()
        if name not in ("NOCASE", "BINARY", "RTRIM"):
            node.set("expression", exp.Var(this="NOCASE" if name.endswith("_CI") else "BINARY"))
    if isinstance(node, exp.SetOperation):  # SQLite takes no parentheses around UNION's sides
        for side in ("this", "expression"):
            operand = node.args.get(side)
            if isinstance(operand, exp.Subquery) and not _has_modifiers(operand.this):
                node.set(side, operand.this)
    if isinstance(node, _COMPARISONS) and not isinstance(node.parent, exp.Update):
        explicit = isinstance(node.this, exp.Collate) or isinstance(node.expression, exp.Collate)
        if not explicit and (_is_text(node.this) or _is_text(node.expression)):
            node.set("this", _nocase(node.this))
    elif isinstance(node, exp.In) and any(_is_text(e) for e in node.expressions):
        node.set("this", _nocase(node.this))
    return node


def _has_modifiers(query: exp.Expr) -> bool:
    return any(query.args.get(k) for k in ("order", "limit", "offset"))


def _is_text(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def _nocase(node: exp.Expr) -> exp.Expr:
    return exp.Collate(this=node, expression=exp.Var(this="NOCASE"))


def _targets(stmt: exp.Expr) -> list[exp.Expr]:
    """The tables an INSERT/UPDATE/DELETE/ALTER writes (the authorizer checks the rest)."""
    if isinstance(stmt, exp.Delete) and stmt.args.get("tables"):
        return list(stmt.args["tables"])
    target = stmt.this
    return [target.this if isinstance(target, exp.Schema) else target]


def _paged(query: exp.Query) -> exp.Query:
    """The page as LIMIT/OFFSET bindings, combined with the query's own LIMIT/OFFSET."""
    query = query.copy()
    limit: exp.Expr = exp.Placeholder(this=_PAGE_LIMIT)
    offset: exp.Expr = exp.Placeholder(this=_PAGE_OFFSET)
    if own := query.args.get("limit"):
        left = exp.Sub(this=own.expression, expression=offset.copy())
        limit = exp.Least(
            this=limit, expressions=[exp.Greatest(this=left, expressions=[exp.Literal.number(0)])]
        )
    if own := query.args.get("offset"):
        offset = exp.Add(this=own.expression, expression=offset)
    query.set("limit", exp.Limit(expression=limit))
    query.set("offset", exp.Offset(expression=offset))
    return query


def _answer_shape(
    query: exp.Query, tokens: list[Token] | None, sql: str, tables: Tables
) -> dict[str, Any]:
    """Plan fields for the answer: names as written (MySQL reports them so), DATE flags."""
    items = query.selects
    texts = _item_texts(tokens, sql) if tokens else None
    if texts is not None and len(texts) != len(items):
        texts = None
    names = [
        None if _is_star(e) else _written(e, texts[i] if texts else None)
        for i, e in enumerate(items)
    ]
    types = _output_types(query, tables)
    dates = tuple(t in _DATE_TYPES for _, t in types) if types else ()
    if None not in names:
        return {"head": tuple(names), "dates": dates}
    first, last = names.index(None), len(names) - names[::-1].index(None)
    return {"head": tuple(names[:first]), "tail": tuple(names[last:]), "star": True, "dates": dates}


def _is_star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) or (isinstance(node, exp.Column) and node.is_star)


def _written(node: exp.Expr, text: str | None) -> str:
    if isinstance(node, exp.Alias):
        return node.alias
    if isinstance(node, exp.Column):
        return node.name
    return text.strip() if text else node.sql("mysql")


def _item_texts(tokens: list[Token], sql: str) -> list[str] | None:
    """Source text of each item of the outermost SELECT list (MySQL names expressions so)."""
    depth, depths = 0, []
    for tok in tokens:
        depth -= tok.token_type == TokenType.R_PAREN
        depths.append(depth)
        depth += tok.token_type == TokenType.L_PAREN
    selects = [i for i, t in enumerate(tokens) if t.token_type == TokenType.SELECT]
    if not selects:
        return None
    start = min(selects, key=lambda i: depths[i])
    base, spans, begin, end = depths[start], [], None, None
    for tok, level in zip(tokens[start + 1 :], depths[start + 1 :], strict=True):
        if level < base or (level == base and tok.token_type in _LIST_END):
            break
        if level == base and tok.token_type == TokenType.COMMA:
            spans.append((begin, end))
            begin = None
        elif (
            begin is not None or spans or tok.token_type not in (TokenType.DISTINCT, TokenType.ALL)
        ):
            begin, end = begin or tok, tok
    spans.append((begin, end))
    if any(b is None or e is None for b, e in spans):
        return None
    return [sql[b.start : e.end + 1] for b, e in spans]  # type: ignore[union-attr]


def _output_types(query: exp.Query, tables: Tables) -> list[tuple[str, exp.DType]] | None:
    """(name, type) of each output column per sqlglot's optimizer; None when it cannot tell."""
    try:
        tree = qualify(
            query.copy(), schema=tables, dialect="sqlite", validate_qualify_columns=False
        )
        tree = annotate_types(tree, schema=tables, dialect="mysql")
    except Exception:  # noqa: BLE001 - types are a best effort; SQLite decides what runs
        return None
    return [
        (s.alias_or_name.lower(), s.type.this if s.type else exp.DType.UNKNOWN)
        for s in tree.selects
    ]


def connect(path: str, timeout_s: float, denied: list[int]) -> sqlite3.Connection:
    """A read-only connection whose temp database (in memory) is the only writable one."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA temp_store=MEMORY")
    mysql.register(conn, datetime.now())
    conn.set_authorizer(_authorizer(denied))
    deadline = time.monotonic() + timeout_s
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 20_000)
    return conn


def _authorizer(denied: list[int]) -> Callable[..., int]:
    def authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, _: Any) -> int:
        if action in _READ_ACTIONS or (action in _TEMP_WRITES and db == "temp"):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_ALTER_TABLE and arg1 == "temp":
            return sqlite3.SQLITE_OK
        denied.append(action)
        return sqlite3.SQLITE_DENY

    return authorize


def _execute(
    conn: sqlite3.Connection, plan: Plan, limit: int, offset: int
) -> tuple[list[tuple], list[tuple]]:
    """Run the steps in order; the answer's rows and cursor description."""
    variables: dict[str, object] = {}
    rows: list[tuple] = []
    description: list[tuple] = []
    for step in plan.steps:
        args = {name: variables.get(name) for name in step.params}
        if step.answer:
            args |= {_PAGE_LIMIT: limit, _PAGE_OFFSET: offset}
        cursor = conn.execute(step.sql, args)
        if step.assign:
            variables[step.assign] = (cursor.fetchone() or (None,))[0]
        elif step.answer:
            rows, description = cursor.fetchall(), list(cursor.description or ())
        cursor.close()
    return rows, description


def _classify(exc: sqlite3.Error, denied: list[int]) -> Exception:
    """Map a SQLite failure onto the API's outcomes."""
    if denied or "readonly" in str(exc) or "read-only" in str(exc):
        return QueryNotReadOnly()
    if "interrupted" in str(exc):
        return QueryTimeout()
    return QueryError(str(exc))


def _names(plan: Plan, reported: list[str]) -> list[str]:
    """Keys as written; a ``*`` keeps SQLite's names, which are the declared column names."""
    if not plan.star:
        return list(plan.head) if len(plan.head) == len(reported) else reported
    names = list(reported)
    names[: len(plan.head)] = plan.head
    if plan.tail:
        names[len(names) - len(plan.tail) :] = plan.tail
    return names


def _unique(names: list[str]) -> list[str]:
    """Repeated names get 1, 2, ... appended, as a .NET DataTable names its columns [I]."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 0
        while candidate in seen:
            n += 1
            candidate = f"{name}{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _t_form(value: object) -> object:
    """A DATE or DATETIME value as ShortQuery sends it: ``2021-05-01T00:00:00``."""
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-":
        return f"{value}T00:00:00" if len(value) == 10 else value.replace(" ", "T", 1)
    return value
