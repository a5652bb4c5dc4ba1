"""The SQLite ledger: one row per model call, so spend, budgets and savings survive restarts.

Several editors may run a server each, so the file is shared between processes: WAL mode lets
readers go on while one writes, `busy_timeout` makes writers queue instead of failing, and each
`record()` is one short `BEGIN IMMEDIATE` transaction. Times are stored as UTC ISO strings (they
sort and compare as text); "today" and "this month" are the user's local calendar, because
budgets are felt by the day the user lives in.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from time import monotonic, sleep
from typing import Literal, Self

import attrs

SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 10_000


class LedgerError(Exception):
    """The ledger file cannot be used; the message names the file and what to do."""


def default_path() -> Path:
    """`$ROUTERLS_DATA_DIR/ledger.sqlite3`, else the platform's user data dir."""
    base = os.environ.get("ROUTERLS_DATA_DIR")
    if not base:
        import platformdirs

        base = platformdirs.user_data_dir("routerls")
    return Path(base) / "ledger.sqlite3"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """UTC, fixed width, so text order is time order."""
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive means local
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@attrs.frozen
class LedgerRow:
    """One model call (one gateway `Attempt`); calls of one request share `request_id`."""

    request_id: str
    session: str
    action: str
    task: str
    tier: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    counterfactual_usd: float = 0.0  # the same tokens on the strongest tier's first model
    latency_ms: float = 0.0
    outcome: str = "ok"
    error: str | None = None
    fallback_index: int = 0  # 0 = the first try of the request
    estimated: bool = False  # tokens counted by us, not reported by the provider
    prompt: str | None = None  # kept only when `ledger.store_prompts` is on
    checks: str | None = None  # what checked the answer: "ruff: no new findings · 6 tests passed"
    ts: datetime = attrs.field(factory=_now)
    id: int | None = None

    @property
    def saved_usd(self) -> float:
        return self.counterfactual_usd - self.cost_usd

    @classmethod
    def from_attempts(cls, attempts: Sequence, *, request_id: str, session: str, action: str,
                      task: str, counterfactual: Callable[[int, int], float],
                      estimated: bool = False, prompt: str | None = None,
                      checks: Mapping[int, str] = {}) -> list[LedgerRow]:
        """Rows for a gateway call's attempts; `counterfactual(in, out)` prices the strongest
        model. `estimated` applies to the successful (last) attempt, the only one with tokens."""
        rows = []
        for i, a in enumerate(attempts):
            rows.append(cls(
                request_id=request_id, session=session, action=action, task=task, tier=a.tier,
                model=a.model, input_tokens=a.input_tokens, output_tokens=a.output_tokens,
                cost_usd=a.cost_usd,
                counterfactual_usd=counterfactual(a.input_tokens, a.output_tokens)
                if (a.input_tokens or a.output_tokens) else 0.0,
                latency_ms=a.latency_ms, outcome=a.outcome, error=a.error, fallback_index=i,
                estimated=estimated and a.outcome == "ok", prompt=prompt, checks=checks.get(i)))
        return rows


@attrs.frozen
class Spend:
    today_usd: float
    month_usd: float
    session_usd: float
    saved_usd: float  # all time: what the strongest tier would have cost minus what we paid


@attrs.frozen
class ReportRow:
    key: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    counterfactual_usd: float
    saved_usd: float


ReportBy = Literal["model", "day", "week", "action"]

_COLUMNS = ("request_id", "ts", "session", "action", "task", "tier", "model", "input_tokens",
            "output_tokens", "cost_usd", "counterfactual_usd", "latency_ms", "outcome", "error",
            "fallback_index", "estimated", "prompt", "checks")


def _v1(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            session TEXT NOT NULL,
            action TEXT NOT NULL,
            task TEXT NOT NULL,
            tier TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            counterfactual_usd REAL NOT NULL DEFAULT 0,
            latency_ms REAL NOT NULL DEFAULT 0,
            outcome TEXT NOT NULL,
            error TEXT,
            fallback_index INTEGER NOT NULL DEFAULT 0,
            estimated INTEGER NOT NULL DEFAULT 0,
            prompt TEXT
        )""")
    db.execute("CREATE INDEX calls_ts ON calls (ts)")
    db.execute("CREATE INDEX calls_session ON calls (session)")
    db.execute("CREATE INDEX calls_request ON calls (request_id)")


def _v2(db: sqlite3.Connection) -> None:
    """Which checks ran on each answer and what they said (NULL on older rows)."""
    db.execute("ALTER TABLE calls ADD COLUMN checks TEXT")


# version → the step that brings the schema from version-1 to version
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1, 2: _v2}


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring the schema to SCHEMA_VERSION in one transaction; safe if two processes race."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise LedgerError(f"{path}: ledger schema v{current} is newer than this routerls "
                              f"(v{SCHEMA_VERSION}); upgrade routerls or set ROUTERLS_DATA_DIR "
                              "to use another ledger")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](db)
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        db.execute("COMMIT")
        return SCHEMA_VERSION
    except BaseException:
        db.execute("ROLLBACK")
        raise


class Ledger:
    """The call ledger at `path` (see `default_path()`); usable from any thread."""

    def __init__(self, path: Path | None = None, *, store_prompts: bool = False,
                 busy_timeout_s: float = BUSY_TIMEOUT_MS / 1000):
        self.path = Path(path) if path is not None else default_path()
        self.store_prompts = store_prompts
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"{self.path}: cannot create the ledger folder: {exc.strerror}; "
                              "set ROUTERLS_DATA_DIR to a writable folder") from None
        with self._guard("open"):
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                       check_same_thread=False)
        try:
            with self._guard("open"):
                self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                self._wal(busy_timeout_s)
                self._db.execute("PRAGMA synchronous = NORMAL")
                migrate(self._db, self.path)
        except BaseException:
            self._db.close()
            raise

    def _wal(self, busy_timeout_s: float) -> None:
        """Switch to WAL (persistent, so once per file). The switch can fail with "locked"
        without waiting on the busy handler when two processes create the file together."""
        deadline = monotonic() + busy_timeout_s
        while self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or monotonic() > deadline:
                    raise
                sleep(0.01)

    def _guard(self, doing: str) -> _Guard:
        return _Guard(self.path, doing)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------

    def record(self, rows: Sequence[LedgerRow]) -> None:
        """Insert all rows in one transaction (a request's attempts land together or not at all)."""
        if not rows:
            return
        values = [(r.request_id, _iso(r.ts), r.session, r.action, r.task, r.tier, r.model,
                   r.input_tokens, r.output_tokens, r.cost_usd, r.counterfactual_usd, r.latency_ms,
                   r.outcome, r.error, r.fallback_index, int(r.estimated),
                   r.prompt if self.store_prompts else None, r.checks) for r in rows]
        sql = (f"INSERT INTO calls ({', '.join(_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(_COLUMNS))})")
        with self._lock, self._guard("write to"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, values)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # --- reading ------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock, self._guard("read"):
            return self._db.execute(sql, params).fetchall()

    def spend(self, session: str | None = None, now: datetime | None = None) -> Spend:
        """Spend today and this month (local calendar), in `session`, and saved (all time)."""
        local_now = (now or _now()).astimezone()  # naive `now` is read as local time
        # naive midnight → local, so a DST change between midnight and now gets its own offset
        day_start = datetime.combine(local_now.date(), time()).astimezone()
        month_start = datetime.combine(local_now.date().replace(day=1), time()).astimezone()
        (today, month, in_session, cost, counterfactual), = self._query(
            """SELECT COALESCE(SUM(CASE WHEN ts >= ? THEN cost_usd END), 0),
                      COALESCE(SUM(CASE WHEN ts >= ? THEN cost_usd END), 0),
                      COALESCE(SUM(CASE WHEN session = ? THEN cost_usd END), 0),
                      COALESCE(SUM(cost_usd), 0), COALESCE(SUM(counterfactual_usd), 0)
               FROM calls""",
            (_iso(day_start), _iso(month_start), session))
        return Spend(today_usd=today, month_usd=month, session_usd=in_session,
                     saved_usd=counterfactual - cost)

    def calls_today(self, model: str, now: datetime | None = None) -> int:
        """Calls made to `model` since local midnight, failed ones too: a plan's daily limit
        counts every request the program received."""
        local_now = (now or _now()).astimezone()
        day_start = datetime.combine(local_now.date(), time()).astimezone()
        (count,), = self._query("SELECT COUNT(*) FROM calls WHERE model = ? AND ts >= ?",
                                (model, _iso(day_start)))
        return int(count)

    def report(self, by: ReportBy = "model", since: date | None = None) -> list[ReportRow]:
        """Totals grouped by model, action, local day (`2025-01-31`) or ISO week (`2025-W05`),
        most expensive first for model/action, in time order for day/week."""
        if by not in ("model", "day", "week", "action"):
            raise ValueError(f"report by {by!r}; allowed: model, day, week, action")
        params: list = []
        where = ""
        if since is not None:
            where = "WHERE ts >= ?"
            params.append(_iso(datetime.combine(since, time()).astimezone()))
        rows = self._query(
            f"SELECT {by if by in ('model', 'action') else 'ts'}, input_tokens, output_tokens, "
            f"cost_usd, counterfactual_usd FROM calls {where}", params)
        totals: dict[str, list] = {}
        for key, inp, out, cost, counterfactual in rows:
            if by in ("day", "week"):
                local = datetime.fromisoformat(key).astimezone()
                iso = local.isocalendar()
                key = local.date().isoformat() if by == "day" else f"{iso.year}-W{iso.week:02d}"
            t = totals.setdefault(key, [0, 0, 0, 0.0, 0.0])
            t[0] += 1
            t[1] += inp
            t[2] += out
            t[3] += cost
            t[4] += counterfactual
        out_rows = [ReportRow(key, calls, inp, out, cost, cf, cf - cost)
                    for key, (calls, inp, out, cost, cf) in totals.items()]
        if by in ("day", "week"):
            return sorted(out_rows, key=lambda r: r.key)
        return sorted(out_rows, key=lambda r: (-r.cost_usd, r.key))

    def rows(self, request_id: str | None = None) -> list[LedgerRow]:
        """Rows in insertion order, optionally of one request (for tests and `routerls report`)."""
        sql = f"SELECT id, {', '.join(_COLUMNS)} FROM calls"
        params: tuple = ()
        if request_id is not None:
            sql += " WHERE request_id = ?"
            params = (request_id,)
        out = []
        for row in self._query(sql + " ORDER BY id", params):
            data = dict(zip(("id", *_COLUMNS), row, strict=True))
            data["ts"] = datetime.fromisoformat(data["ts"])
            data["estimated"] = bool(data["estimated"])
            out.append(LedgerRow(**data))
        return out


class _Guard:
    """Turns sqlite errors into a `LedgerError` that names the file and what to do."""

    def __init__(self, path: Path, doing: str):
        self.path, self.doing = path, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> bool:
        if exc is None or not isinstance(exc, sqlite3.Error):
            return False
        text = str(exc)
        if "locked" in text or "busy" in text:
            hint = "another process holds it locked; close other routerls instances and retry"
        elif isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text
                                                         or "malformed" in text):
            hint = "the file is corrupt; move it aside (routerls starts a new ledger)"
        else:
            hint = "check the file's permissions or set ROUTERLS_DATA_DIR elsewhere"
        raise LedgerError(f"{self.path}: cannot {self.doing} the ledger: {text}; {hint}") from exc
