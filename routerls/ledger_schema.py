"""The ledger file's tables and the steps that migrate an older file to them.

A ledger outlives the routerls that wrote it, so every change to the tables is a numbered step
run once, in one transaction, when a file is opened (two processes may race to do it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

SCHEMA_VERSION = 3


class LedgerError(Exception):
    """The ledger file cannot be used; the message names the file and what to do."""


# the columns of `calls` a row writes and reads, in order
COLUMNS = ("request_id", "ts", "session", "action", "task", "tier", "model", "input_tokens",
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
    """Budget reservations: what requests in flight (in any process) have been allowed to
    spend, so routing in one process sees the others' money before it is recorded."""
    db.execute("""
        CREATE TABLE reservations (
            request_id TEXT PRIMARY KEY,
            session TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            amount_usd REAL NOT NULL,
            ts TEXT NOT NULL,
            expires TEXT NOT NULL
        )""")



def _v3(db: sqlite3.Connection) -> None:
    """Which checks ran on each answer and what they said (NULL on older rows)."""
    db.execute("ALTER TABLE calls ADD COLUMN checks TEXT")


def _outcomes(db: sqlite3.Connection) -> None:
    """What became of applied edits (learning.py). A table of its own, created when missing on
    every open, so it joins any schema version without a version step of its own."""
    db.execute("""
        CREATE TABLE IF NOT EXISTS outcomes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            workspace TEXT NOT NULL,
            action TEXT NOT NULL,
            task TEXT NOT NULL,
            tier TEXT NOT NULL,
            outcome TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT ''
        )""")
    db.execute("CREATE INDEX IF NOT EXISTS outcomes_cell ON outcomes (workspace, task, tier)")


# version → the step that brings the schema from version-1 to version.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _v1, 2: _v2, 3: _v3}


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
        _outcomes(db)
        db.execute("COMMIT")
        return SCHEMA_VERSION
    except BaseException:
        db.execute("ROLLBACK")
        raise
