"""The monitor's store: one SQLite file (WAL) per series, every probe written as it ends.

A series is the probes of one target, over any number of monitor sessions (one per process):
a restarted monitor appends to the same file. Nothing secret is written: errors are redacted
before they reach here (probe.py), and no token, code or user is ever stored.

    meta(key, value)                         the series: target name, availability target
    sessions(id, started, ended, ...)        one row per monitor process
    probes(id, session, started, ended, outcome, level, interval, first_step, kind, error)
    steps(probe, position, name, ok, ms, kind, error)
    unobserved(start, end, before, after)    no probe for more than GAP_FACTOR intervals
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from psc_testkit.monitor.stats import GAP_FACTOR, Probe

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, started REAL NOT NULL, ended REAL, interval REAL NOT NULL,
    level TEXT NOT NULL, pid INTEGER, version TEXT, stopped TEXT
);
CREATE TABLE IF NOT EXISTS probes (
    id INTEGER PRIMARY KEY, session TEXT NOT NULL REFERENCES sessions(id),
    started REAL NOT NULL, ended REAL NOT NULL, outcome TEXT NOT NULL
        CHECK (outcome IN ('up', 'down', 'tool')),
    level TEXT NOT NULL, interval REAL NOT NULL,
    first_step TEXT, kind TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS probes_started ON probes(started);
CREATE TABLE IF NOT EXISTS steps (
    probe INTEGER NOT NULL REFERENCES probes(id), position INTEGER NOT NULL,
    name TEXT NOT NULL, ok INTEGER NOT NULL, ms REAL NOT NULL, kind TEXT, error TEXT,
    PRIMARY KEY (probe, position)
);
CREATE TABLE IF NOT EXISTS unobserved (
    start REAL NOT NULL, end REAL NOT NULL, before TEXT, after TEXT
);
"""


class StoreError(Exception):
    """The store cannot be used (another series, not a monitor store): one line, exit 2."""


@dataclass(frozen=True)
class StepRow:
    name: str
    ok: bool
    ms: float
    kind: str | None = None  # provider | protocol | tool, when it failed
    error: str | None = None


@dataclass(frozen=True)
class ProbeRow:
    started: float
    ended: float
    outcome: str
    level: str
    interval: float
    steps: tuple[StepRow, ...]
    session: str = ""
    first_step: str | None = None
    kind: str | None = None
    error: str | None = None

    def probe(self) -> Probe:
        return Probe(
            self.started,
            self.outcome,
            self.interval,
            self.session,
            self.first_step,
            self.error,
            self.ended,
        )


def default_path(target_name: str, reports: Path = Path("reports")) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in target_name).strip(".-")
    return reports / "monitor" / f"{safe or 'target'}.sqlite"


TABLES = {"meta", "sessions", "probes", "steps", "unobserved"}


class Store:
    """The series in `path`. `create`: the monitor's store, made when missing, written to, and
    held by one monitor at a time (a lock file beside it); else a report's, opened read-only.
    Any file that is not a monitor store is refused before anything is written to it."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._lock: int | None = None
        if not create and not path.exists():
            raise StoreError(f"{path}: no such store (run psc-testkit monitor first)")
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._take_lock()
            new = create and (not path.exists() or path.stat().st_size == 0)
            uri = path.resolve().as_uri() + ("" if create else "?mode=ro")
            self.db = sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
            if not new and not tables >= TABLES:
                self.close()
                raise StoreError(f"{path}: not a monitor store (its tables are missing)")
            if create:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at each checkpoint
                self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"{path}: not a usable monitor store ({exc})") from None
        except OSError as exc:
            self.close()
            raise StoreError(f"{path}: {exc.strerror or exc}") from None
        self.session: str | None = None
        self.interval = 0.0

    def _take_lock(self) -> None:
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(
                f"{self.path}: another monitor is writing this series (its lock is {lock})"
            ) from None
        self._lock = fd

    # The series -------------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def claim(self, target: str, availability: float) -> None:
        """Make the store the series of `target`, or check that it already is."""
        meta = self.meta()
        if meta.get("target", target) != target:
            raise StoreError(
                f"{self.path} holds the series of {meta['target']!r}, not of {target!r}: "
                "give another --store"
            )
        with self.transaction():
            for key, value in (
                ("schema", str(SCHEMA_VERSION)),
                ("target", target),
                ("availability", repr(availability)),
            ):
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            self.db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('created', ?)", (repr(time.time()),)
            )

    def begin(self, interval: float, level: str, version: str) -> str:
        """A new session of the series; returns its id."""
        self.session = uuid.uuid4().hex[:12]
        self.interval = interval
        with self.transaction():
            self.db.execute(
                "INSERT INTO sessions (id, started, interval, level, pid, version) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self.session, time.time(), interval, level, os.getpid(), version),
            )
        return self.session

    def end(self, why: str) -> None:
        if self.session is None:
            return
        with self.transaction():
            self.db.execute(
                "UPDATE sessions SET ended = ?, stopped = ? WHERE id = ?",
                (time.time(), why, self.session),
            )

    @staticmethod
    def _last(db: sqlite3.Connection) -> Probe | None:
        row = db.execute(
            "SELECT started, interval, session, ended, outcome FROM probes "
            "ORDER BY started DESC LIMIT 1"
        ).fetchone()
        return Probe(row[0], row[4], row[1], row[2], ended=row[3]) if row else None

    def add(self, probe: ProbeRow) -> int:
        """Write one probe (and, when none came for more than GAP_FACTOR intervals, the
        unobserved time before it) in one transaction."""
        assert self.session is not None, "begin() a session first"
        with self.transaction():
            last = self._last(self.db)
            if last is not None and probe.started < last.started:
                # The clock stepped back: a probe before the last one would interleave the
                # series (and split its episodes). Kept at the last one's time, and said.
                probe = dataclasses.replace(
                    probe,
                    started=last.started,
                    ended=max(probe.ended, last.started),
                    error=(probe.error or "") + " (clock stepped back)",
                )
            idle = (GAP_FACTOR - 1) * last.interval if last is not None else 0.0
            if last is not None and probe.started - last.covers_until > idle:
                self.db.execute(
                    "INSERT INTO unobserved VALUES (?, ?, ?, ?)",
                    (last.covers_until, probe.started, last.session, self.session),
                )
            cursor = self.db.execute(
                "INSERT INTO probes (session, started, ended, outcome, level, interval, "
                "first_step, kind, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.session,
                    probe.started,
                    probe.ended,
                    probe.outcome,
                    probe.level,
                    probe.interval,
                    probe.first_step,
                    probe.kind,
                    probe.error,
                ),
            )
            probe_id = int(cursor.lastrowid or 0)
            self.db.executemany(
                "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (probe_id, i, s.name, int(s.ok), s.ms, s.kind, s.error)
                    for i, s in enumerate(probe.steps)
                ],
            )
        return probe_id

    # Reading ----------------------------------------------------------------------------------

    def probes(self, since: float | None = None) -> list[ProbeRow]:
        where, args = ("WHERE started >= ?", (since,)) if since is not None else ("", ())
        steps: dict[int, list[StepRow]] = {}
        for row in self.db.execute(
            "SELECT probe, name, ok, ms, kind, error FROM steps WHERE probe IN "
            f"(SELECT id FROM probes {where}) ORDER BY probe, position",
            args,
        ):
            steps.setdefault(row[0], []).append(StepRow(row[1], bool(row[2]), *row[3:]))
        return [
            ProbeRow(
                started=r[1],
                ended=r[2],
                outcome=r[3],
                level=r[4],
                interval=r[5],
                steps=tuple(steps.get(r[0], ())),
                session=r[6],
                first_step=r[7],
                kind=r[8],
                error=r[9],
            )
            for r in self.db.execute(
                "SELECT id, started, ended, outcome, level, interval, session, first_step, "
                f"kind, error FROM probes {where} ORDER BY started",
                args,
            )
        ]

    def unobserved(self) -> list[tuple[float, float]]:
        return [
            tuple(r) for r in self.db.execute("SELECT start, end FROM unobserved ORDER BY start")
        ]

    def sessions(self) -> list[dict]:
        names = ("id", "started", "ended", "interval", "level", "stopped")
        rows = self.db.execute(f"SELECT {', '.join(names)} FROM sessions ORDER BY started")
        return [dict(zip(names, r, strict=True)) for r in rows]

    def counts_since(self, since: float) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT outcome, COUNT(*) FROM probes WHERE started >= ? GROUP BY outcome", (since,)
        )
        return dict(rows)

    def transaction(self):
        return _Transaction(self.db)

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
        if self._lock is not None:
            os.close(self._lock)  # the lock goes with it
            self._lock = None


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, exc, tb) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def dump(path: Path) -> Iterator[str]:
    """Every row of the store as JSON lines: what the redaction test reads."""
    db = sqlite3.connect(str(path))
    try:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.execute(f"SELECT * FROM {table}"):
                yield json.dumps([table, *row], ensure_ascii=False)
    finally:
        db.close()
