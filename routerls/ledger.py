"""The SQLite ledger: one row per model call, so spend, budgets and savings survive restarts.

Several editors may run a server each, so the file is shared between processes: WAL mode lets
readers go on while one writes, `busy_timeout` makes writers queue instead of failing, and each
`record()` is one short `BEGIN IMMEDIATE` transaction. Times are stored as UTC ISO strings (they
sort and compare as text); "today" and "this month" are the user's local calendar, because
budgets are felt by the day the user lives in.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Self

import attrs

from routerls.ledger_schema import COLUMNS, LedgerError, migrate

BUSY_TIMEOUT_MS = 10_000
RESERVATION_TTL_S = 900.0  # a request holding budget longer than this is taken for dead


def default_path() -> Path:
    """`$ROUTERLS_DATA_DIR/ledger.sqlite3`, else the platform's user data dir."""
    from routerls.paths import data_dir

    return data_dir() / "ledger.sqlite3"


_HOST = socket.gethostname()


def _alive(pid: int) -> bool:
    """Whether a process of this host still runs (a reservation of a dead one is freed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
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

    def record(self, rows: Sequence[LedgerRow], *, release: str | None = None) -> None:
        """Insert all rows in one transaction (a request's attempts land together or not at all);
        `release` names a request whose reservation goes in the same transaction, so its money
        is never counted twice nor dropped in between."""
        if not rows:
            if release is not None:
                self.release(release)
            return
        values = [(r.request_id, iso_utc(r.ts), r.session, r.action, r.task, r.tier, r.model,
                   r.input_tokens, r.output_tokens, r.cost_usd, r.counterfactual_usd, r.latency_ms,
                   r.outcome, r.error, r.fallback_index, int(r.estimated),
                   r.prompt if self.store_prompts else None, r.checks) for r in rows]
        sql = (f"INSERT INTO calls ({', '.join(COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(COLUMNS))})")
        with self._lock, self._guard("write to"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, values)
                if release is not None:
                    self._db.execute("DELETE FROM reservations WHERE request_id = ?", (release,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # --- reservations -----------------------------------------------------------------

    def reserve(self, request_id: str, session: str, hold: Callable[[Spend], float], *,
                ttl_s: float = RESERVATION_TTL_S, now: datetime | None = None) -> float:
        """Hold money for a request in flight, decided against everyone's spend in one
        transaction: `hold(spend)` sees recorded spend plus every live reservation but this
        request's own, and returns the amount to hold (0 holds nothing). Reservations of
        crashed processes are freed first: expired ones, and those of a dead pid on this host.
        `hold` runs while the ledger is write-locked, so it must be quick and do no I/O."""
        moment = now or _now()
        with self._lock, self._guard("reserve in"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._free_dead(moment)
                self._db.execute("DELETE FROM reservations WHERE request_id = ?", (request_id,))
                spend = self._spend(session, moment, held=True)
                amount = max(float(hold(spend) or 0.0), 0.0)
                if amount > 0:
                    self._db.execute(
                        "INSERT INTO reservations (request_id, session, host, pid, amount_usd, ts, expires) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (request_id, session, _HOST, os.getpid(), amount, iso_utc(moment),
                         iso_utc(moment + timedelta(seconds=ttl_s))))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return amount

    def release(self, request_id: str) -> None:
        """Drop a request's reservation (it ended without a recorded call)."""
        with self._lock, self._guard("write to"):
            self._db.execute("DELETE FROM reservations WHERE request_id = ?", (request_id,))

    def held(self, now: datetime | None = None) -> float:
        """Money held by live reservations of every process."""
        (total,), = self._query("SELECT COALESCE(SUM(amount_usd), 0) FROM reservations WHERE expires > ?",
                                (iso_utc(now or _now()),))
        return float(total)

    def _free_dead(self, moment: datetime) -> None:
        self._db.execute("DELETE FROM reservations WHERE expires <= ?", (iso_utc(moment),))
        rows = self._db.execute("SELECT request_id, pid FROM reservations WHERE host = ?", (_HOST,)).fetchall()
        dead = [(rid,) for rid, pid in rows if not _alive(pid)]
        if dead:
            self._db.executemany("DELETE FROM reservations WHERE request_id = ?", dead)

    def _write(self, sql: str, params: Sequence) -> int:
        with self._lock, self._guard("write to"):
            return self._db.execute(sql, params).rowcount

    # --- outcomes of applied edits (learning.py) ---------------------------------------------

    def record_outcome(self, request_id: str, workspace: str, action: str, task: str, tier: str,
                       outcome: str, target: str = "", ts: datetime | None = None) -> None:
        """One outcome of one tier's answer to a request (`target` names the file and lines, so
        a CLI re-run can find the run it repeats)."""
        self._write("INSERT INTO outcomes (request_id, ts, workspace, action, task, tier, outcome, target) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (request_id, iso_utc(ts or _now()), workspace, action, task, tier, outcome, target))

    def settle_outcome(self, request_id: str, tier: str, outcome: str) -> bool:
        """The final outcome of an edit recorded as 'pending' when it was applied."""
        return self._write("UPDATE outcomes SET outcome = ? WHERE request_id = ? AND tier = ? "
                           "AND outcome = 'pending'", (outcome, request_id, tier)) > 0

    def mark_rerun(self, workspace: str, action: str, target: str, since: datetime) -> str | None:
        """The latest *kept* run of `action` on `target` since `since` becomes *rerun*; returns
        its request id (None when there is none)."""
        with self._lock, self._guard("write to"):
            row = self._db.execute(
                "SELECT id, request_id FROM outcomes WHERE workspace = ? AND action = ? AND target = ? "
                "AND outcome = 'kept' AND ts >= ? ORDER BY id DESC LIMIT 1",
                (workspace, action, target, iso_utc(since))).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE outcomes SET outcome = 'rerun' WHERE id = ?", (row[0],))
            return str(row[1])

    def outcome_counts(self, workspace: str) -> dict[tuple[str, str], tuple[int, int, int]]:
        """(task, tier) → (kept, settled outcomes, edits still pending) in one workspace."""
        rows = self._query("SELECT task, tier, SUM(outcome = 'kept'), SUM(outcome != 'pending'), "
                           "SUM(outcome = 'pending') FROM outcomes WHERE workspace = ? GROUP BY task, tier",
                           (workspace,))
        return {(task, tier): (int(kept), int(n), int(p)) for task, tier, kept, n, p in rows}

    def outcome_report(self, workspace: str | None = None,
                       since: datetime | None = None) -> list[tuple[str, str, str, int]]:
        """(task, tier, outcome, count) of settled outcomes, of one workspace or all, of the
        edits applied since `since` or ever."""
        where, params = "", []
        if workspace is not None:
            where, params = where + " AND workspace = ?", [*params, workspace]
        if since is not None:
            where, params = where + " AND ts >= ?", [*params, iso_utc(since)]
        return [(t, tier, o, int(n)) for t, tier, o, n in self._query(
            f"SELECT task, tier, outcome, COUNT(*) FROM outcomes WHERE outcome != 'pending'{where} "
            "GROUP BY task, tier, outcome",
            params)]

    def forget_outcomes(self, workspace: str) -> int:
        """Drop a workspace's outcomes (`routerls learn --reset`); returns how many."""
        return self._write("DELETE FROM outcomes WHERE workspace = ?", (workspace,))

    # --- reading ------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock, self._guard("read"):
            return self._db.execute(sql, params).fetchall()

    def spend(self, session: str | None = None, now: datetime | None = None, *,
              held: bool = False) -> Spend:
        """Spend today and this month (local calendar), in `session`, and saved (all time);
        with `held`, live reservations count as spent today and this month."""
        with self._lock, self._guard("read"):
            return self._spend(session, now or _now(), held=held)

    def _spend(self, session: str | None, now: datetime, *, held: bool) -> Spend:
        local_now = now.astimezone()  # naive `now` is read as local time
        # naive midnight → local, so a DST change between midnight and now gets its own offset
        day_start = datetime.combine(local_now.date(), time()).astimezone()
        month_start = datetime.combine(local_now.date().replace(day=1), time()).astimezone()
        (today, month, in_session, cost, counterfactual), = self._db.execute(
            """SELECT COALESCE(SUM(CASE WHEN ts >= ? THEN cost_usd END), 0),
                      COALESCE(SUM(CASE WHEN ts >= ? THEN cost_usd END), 0),
                      COALESCE(SUM(CASE WHEN session = ? THEN cost_usd END), 0),
                      COALESCE(SUM(cost_usd), 0), COALESCE(SUM(counterfactual_usd), 0)
               FROM calls""",
            (iso_utc(day_start), iso_utc(month_start), session)).fetchall()
        if held:
            (hold,), = self._db.execute("SELECT COALESCE(SUM(amount_usd), 0) FROM reservations "
                                        "WHERE expires > ?", (iso_utc(now),)).fetchall()
            today, month = today + hold, month + hold
        return Spend(today_usd=today, month_usd=month, session_usd=in_session,
                     saved_usd=counterfactual - cost)

    def calls_today(self, model: str, now: datetime | None = None) -> int:
        """Calls made to `model` since local midnight, failed ones too: a plan's daily limit
        counts every request the program received."""
        local_now = (now or _now()).astimezone()
        day_start = datetime.combine(local_now.date(), time()).astimezone()
        (count,), = self._query("SELECT COUNT(*) FROM calls WHERE model = ? AND ts >= ?",
                                (model, iso_utc(day_start)))
        return int(count)

    def select(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """A read-only query for the report layer (`spend_report.py`)."""
        return self._query(sql, params)

    def rows(self, request_id: str | None = None) -> list[LedgerRow]:
        """Rows in insertion order, optionally of one request (for tests and `routerls report`)."""
        sql = f"SELECT id, {', '.join(COLUMNS)} FROM calls"
        params: tuple = ()
        if request_id is not None:
            sql += " WHERE request_id = ?"
            params = (request_id,)
        out = []
        for row in self._query(sql + " ORDER BY id", params):
            data = dict(zip(("id", *COLUMNS), row, strict=True))
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
