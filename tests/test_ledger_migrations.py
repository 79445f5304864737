"""Ledger schema migrations on SQLite and PostgreSQL: a version-1 ledger upgraded intact, once,
atomically and under concurrency; a newer ledger refused by the API and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from benchpin.cli import main
from kiosk.ledger import SCRAPPED, Ledger, LedgerTooNew
from kiosk.ledger.db import Connection, Database
from kiosk.ledger.migrations import MIGRATIONS, Migration, current_version, latest_version, upgrade, where
from kiosk.ledger.schema import VERSION_1
from tests.kiosk_support import add_operators, postgres_schema_url, spec
from tests.stations import station, station_file

# The schema as the code before migrations created it, frozen: what ledgers in the field hold.
TODAY_V1 = (
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS operators (
        operator_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS trees (tree_id TEXT PRIMARY KEY, created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS pieces (
        piece_id TEXT PRIMARY KEY,
        route TEXT NOT NULL,
        stage TEXT NOT NULL,
        version INTEGER NOT NULL,
        style TEXT NOT NULL DEFAULT '',
        order_id TEXT NOT NULL DEFAULT '',
        metal TEXT NOT NULL DEFAULT '',
        ring_size TEXT NOT NULL DEFAULT '',
        chain_length_cm DOUBLE PRECISION,
        metal_colour TEXT NOT NULL DEFAULT '',
        stone_type TEXT NOT NULL DEFAULT '',
        stone_colour TEXT NOT NULL DEFAULT '',
        stone_shape TEXT NOT NULL DEFAULT '',
        enamel INTEGER NOT NULL DEFAULT 0,
        tree_id TEXT REFERENCES trees (tree_id),
        serial TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        CONSTRAINT pieces_serial_unique UNIQUE (serial))""",
    """CREATE INDEX IF NOT EXISTS pieces_stage ON pieces (stage)""",
    """CREATE INDEX IF NOT EXISTS pieces_tree ON pieces (tree_id)""",
    """CREATE TABLE IF NOT EXISTS events (
        event_id TEXT PRIMARY KEY,
        piece_id TEXT NOT NULL REFERENCES pieces (piece_id),
        version INTEGER NOT NULL,
        from_stage TEXT,
        to_stage TEXT NOT NULL,
        kind TEXT NOT NULL,
        station TEXT NOT NULL,
        operator TEXT NOT NULL,
        ts TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        published INTEGER NOT NULL DEFAULT 0,
        CONSTRAINT events_piece_version_unique UNIQUE (piece_id, version))""",
    """CREATE INDEX IF NOT EXISTS events_unpublished ON events (published, station)""",
    """CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)""",
    """INSERT INTO counters (name, value) VALUES ('serial', 0) ON CONFLICT (name) DO NOTHING""",
    """INSERT INTO meta (key, value) VALUES ('schema_version', '1')
        ON CONFLICT (key) DO NOTHING""",
)
V1_TABLES = ("operators", "trees", "pieces", "events", "counters")


def create_today(db: Database) -> None:
    """Create the schema the way a ledger opened before migrations did."""
    with db.transaction() as conn:
        for statement in TODAY_V1:
            conn.execute(statement)


# The columns each version-1 table had; a ledger written by today's code is copied down to them.
V1_COLUMNS = {
    "operators": ("operator_id", "name", "role", "created"),
    "trees": ("tree_id", "created"),
    "pieces": ("piece_id", "route", "stage", "version", "style", "order_id", "metal", "ring_size",
               "chain_length_cm", "metal_colour", "stone_type", "stone_colour", "stone_shape", "enamel",
               "tree_id", "serial", "created", "updated"),
    "events": ("event_id", "piece_id", "version", "from_stage", "to_stage", "kind", "station", "operator",
               "ts", "note", "published"),
    "counters": ("name", "value"),
}


def fill(ledger: Ledger) -> None:
    """Write a realistic workshop through the real Ledger API: both routes, a tree, a serial."""
    add_operators(ledger)
    ledger.import_pieces([spec("PC-1", enamel=True, metal="vermeil_18ct", ring_size="N"),
                          spec("PC-2", tree_id="TR-1"), spec("PC-3", tree_id="TR-1"),
                          spec("PC-B1", route="bespoke", stone_type="emerald"), spec("PC-B2", route="bespoke")])
    while ledger.piece("PC-1").stage != "engraving":
        ledger.advance("PC-1", operator="OP-SUP", station="bench")
    ledger.record_job(ledger.history("PC-1")[-1].event_id, "done")  # the laser engraved its serial
    ledger.advance("PC-1", operator="laser", station="casting-1/laser-1")
    ledger.move("PC-1", "plating", operator="OP-QC", station="qc", note="plating thickness")
    for piece_id in ("PC-2", "PC-3"):
        while ledger.piece(piece_id).stage != "wax_tree":
            ledger.advance(piece_id, operator="OP-SUP", station="bench")
    ledger.move_tree("TR-1", "casting", operator="OP-ART", station="casting")
    ledger.advance("PC-B1", operator="OP-ART", station="design")
    while ledger.piece("PC-B2").stage != "casting_inspection":
        ledger.advance("PC-B2", operator="OP-SUP", station="bench")
    ledger.move("PC-B2", SCRAPPED, operator="OP-QC", station="qc", note="porosity through the shank")
    for event in ledger.unpublished("bench")[:3]:
        ledger.mark_published(event.event_id)


@pytest.fixture
def v1_ledger(ledger_url: str) -> Iterator[str]:  # noqa: F811
    """A ledger with today's version-1 schema, holding what the real Ledger API wrote.

    Today's code writes the latest schema, so the workshop is written first, then every
    version-1 column of every row is copied into a ledger created with the version-1 statements.
    """
    with Ledger(ledger_url) as ledger:
        fill(ledger)
        with ledger.db.connect() as conn:
            saved = {t: conn.rows(f"SELECT {', '.join(cols)} FROM {t}") for t, cols in V1_COLUMNS.items()}
            tables = [r[0] for r in conn.rows(
                "SELECT name FROM sqlite_master WHERE type = 'table'" if conn.dialect == "sqlite" else
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
    db = Database(ledger_url)
    try:
        with db.transaction() as conn:
            later = [t for t in tables if t not in V1_COLUMNS and t != "meta"]
            for table in (*later, "events", "pieces", "trees", "operators", "counters", "meta"):
                conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE" if conn.dialect == "postgresql"
                             else f"DROP TABLE IF EXISTS {table}")
        create_today(db)
        with db.transaction() as conn:
            conn.execute("DELETE FROM counters")
            for table, cols in V1_COLUMNS.items():  # in foreign-key order
                for row in saved[table]:
                    conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                 row)
    finally:
        db.close()
    yield ledger_url


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of the version-1 tables, ordered, and meta without the version."""
    db = Database(url)
    try:
        with db.connect() as conn:
            found = {t: conn.rows(f"SELECT {', '.join(V1_COLUMNS[t])} FROM {t} ORDER BY 1, 2") for t in V1_TABLES}
            found["meta"] = conn.rows("SELECT * FROM meta WHERE key <> 'schema_version' ORDER BY key")
            return found
    finally:
        db.close()


def columns(url: str) -> set[tuple[Any, ...]]:
    """Return (table, column, type, not null, default) for every column of the ledger's tables."""
    db = Database(url)
    try:
        with db.connect() as conn:
            if conn.dialect == "postgresql":
                return set(conn.rows(
                    "SELECT table_name, column_name, data_type, is_nullable, column_default "
                    "FROM information_schema.columns WHERE table_schema = current_schema()"))
            tables = [r[0] for r in conn.rows("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {(t, *r[1:5]) for t in tables for r in conn.rows(f"PRAGMA table_info({t})")}
    finally:
        db.close()


def version_of(url: str) -> int:
    db = Database(url)
    try:
        return current_version(db)
    finally:
        db.close()


def set_version(url: str, version: int) -> None:
    db = Database(url)
    try:
        with db.transaction() as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    finally:
        db.close()


def has_table(url: str, table: str) -> bool:
    db = Database(url)
    try:
        with db.connect() as conn:
            if conn.dialect == "postgresql":
                return conn.row("SELECT to_regclass(?) IS NOT NULL", (table,)) == (True,)
            return conn.row("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)) is not None
    finally:
        db.close()


def test_version_1_is_todays_schema_and_the_latest_is_known() -> None:
    assert tuple(VERSION_1) == TODAY_V1[:-1]  # the version row is now written by the runner
    assert MIGRATIONS[0].apply == VERSION_1
    assert latest_version() == len(MIGRATIONS) == 12


def test_upgrade_keeps_a_version_1_ledger_intact_and_writable(v1_ledger: str) -> None:
    assert version_of(v1_ledger) == 1
    before = dump(v1_ledger)
    with Ledger(v1_ledger) as ledger:  # opening upgrades
        histories = {p: ledger.history(p) for p in ("PC-1", "PC-2", "PC-3", "PC-B1", "PC-B2")}
    assert version_of(v1_ledger) == latest_version()
    assert dump(v1_ledger) == before  # every piece, event, operator, tree, counter: same ids and values
    assert len(before["pieces"]) == 5 and len(before["events"]) > 20 and len(before["operators"]) == 5

    with Ledger(v1_ledger) as ledger:
        assert {p: ledger.history(p) for p in histories} == histories
        pc1 = ledger.piece("PC-1")
        assert pc1.stage == "plating" and pc1.serial and pc1.enamel and pc1.ring_size == "N"
        assert ledger.history("PC-1")[-1].note == "plating thickness"
        assert [p.stage for p in ledger.tree("TR-1").pieces] == ["casting", "casting"]
        assert ledger.piece("PC-B2").stage == SCRAPPED
        # New writes: moves, a second serial from the same counter, an import, an operator, a check.
        while ledger.piece("PC-2").serial is None:
            ledger.advance("PC-2", operator="OP-SUP", station="bench")
        assert ledger.piece("PC-2").serial not in (None, pc1.serial)
        assert ledger.piece("PC-1").serial == pc1.serial
        assert ledger.import_pieces([spec("PC-4")]) == 1
        ledger.add_operator("OP-NEW", "New One", "artisan")
        event = ledger.advance("PC-4", operator="OP-NEW", station="design")
        assert ledger.history("PC-4")[-1] == event
        with ledger.db.transaction() as conn:
            conn.execute("INSERT INTO event_checks (event_id, name, value_num, passed) VALUES (?, ?, ?, ?)",
                         (event.event_id, "weight_g", 4.2, 1))
            assert conn.row("SELECT value_text, value_num, passed FROM event_checks") == ("", 4.2, 1)


def test_upgrading_twice_is_a_no_op(v1_ledger: str) -> None:
    db = Database(v1_ledger)
    try:
        assert upgrade(db) == list(range(2, latest_version() + 1))
        after = (dump(v1_ledger), columns(v1_ledger))
        assert upgrade(db) == []
    finally:
        db.close()
    with Ledger(v1_ledger):
        pass
    assert (dump(v1_ledger), columns(v1_ledger)) == after
    assert version_of(v1_ledger) == latest_version()


def test_a_fresh_ledger_and_an_upgraded_one_have_the_same_schema(v1_ledger: str, tmp_path: Path) -> None:
    with Ledger(v1_ledger):
        pass
    if v1_ledger.startswith("sqlite"):
        fresh = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        with Ledger(fresh):
            pass
        assert columns(fresh) == columns(v1_ledger)
        return
    with contextmanager(postgres_schema_url)() as fresh:
        with Ledger(fresh):
            pass
        assert columns(fresh) == columns(v1_ledger)


def test_a_failing_step_leaves_neither_its_changes_nor_its_version(ledger_url: str) -> None:  # noqa: F811
    broken = (MIGRATIONS[0], Migration(2, "half done", ("CREATE TABLE half_done (a INTEGER)",
                                                        "INSERT INTO no_such_table VALUES (1)")))
    db = Database(ledger_url)
    try:
        with pytest.raises(Exception, match="no_such_table"):
            upgrade(db, broken)
        assert current_version(db) == 1  # step 1 committed on its own; step 2 not at all
        assert not has_table(ledger_url, "half_done")
        assert upgrade(db, MIGRATIONS) == list(range(2, latest_version() + 1))  # the real steps still apply
    finally:
        db.close()


def test_a_newer_ledger_is_refused_and_left_alone(v1_ledger: str) -> None:
    set_version(v1_ledger, 99)
    before = dump(v1_ledger)
    with pytest.raises(LedgerTooNew) as refused:
        Ledger(v1_ledger)
    assert str(refused.value) == (f"the ledger at {where(v1_ledger)} has schema version 99; "
                                  f"this benchpin knows up to {latest_version()}: upgrade benchpin")
    assert "options" not in str(refused.value)
    assert version_of(v1_ledger) == 99 and dump(v1_ledger) == before
    assert not has_table(v1_ledger, "event_checks")


def write_config(tmp_path: Path, url: str) -> Path:
    return station_file(tmp_path, station(kiosk={"station": "design", "database": url,
                                                 "outbox_file": str(tmp_path / "outbox.sqlite")}))


def test_the_cli_prints_the_refusal_without_a_traceback(v1_ledger: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    set_version(v1_ledger, 99)
    config = str(write_config(tmp_path, v1_ledger))
    (tmp_path / "pieces.csv").write_text("piece_id,route\nPC-9,production\n")
    message = f"has schema version 99; this benchpin knows up to {latest_version()}: upgrade benchpin"
    for argv in (["operators", "list"], ["operators", "add", "OP-9", "--name", "Nine", "--role", "qc"],
                 ["pieces", "import", str(tmp_path / "pieces.csv")], ["ledger", "upgrade"]):
        try:
            status = main([*argv, "--config", config])
        except SystemExit as exc:
            status = int(exc.code or 0)
        err = capsys.readouterr().err
        assert status == 1 and message in err and "Traceback" not in err, (argv, err)
    assert main(["ledger", "version", "--config", config]) == 0
    assert f"schema version 99; this benchpin knows up to {latest_version()} (upgrade benchpin)" in capsys.readouterr().out

    kiosk = subprocess.run([sys.executable, "-m", "benchpin", "kiosk", "--config", config],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "NOTIFY_SOCKET": ""})
    assert kiosk.returncode == 1 and message in kiosk.stderr and "Traceback" not in kiosk.stderr, kiosk.stderr
    assert version_of(v1_ledger) == 99


def test_the_ledger_commands_report_and_apply_the_upgrade(v1_ledger: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path, v1_ledger))
    assert main(["ledger", "version", "--config", config]) == 0
    assert f"schema version 1; this benchpin knows up to {latest_version()}" in capsys.readouterr().out
    assert main(["ledger", "upgrade", "--config", config]) == 0
    assert "applied schema version(s) 2" in capsys.readouterr().out
    assert main(["ledger", "upgrade", "--config", config]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert version_of(v1_ledger) == latest_version()


def with_isolation(url: str, level: str) -> str:
    """Return ``url`` whose sessions default to transaction isolation ``level`` (PostgreSQL)."""
    return f"{url}%20-cdefault_transaction_isolation%3D{level}" if level else url


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` on ``count`` threads released at once; return results (or exceptions)."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # reported by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.parametrize("isolation", ["", "serializable"])
def test_kiosks_upgrading_at_once_apply_each_step_once(ledger_url: str, isolation: str) -> None:  # noqa: F811
    if isolation and not ledger_url.startswith("postgresql"):
        pytest.skip("isolation levels are PostgreSQL's")
    url = with_isolation(ledger_url, isolation)
    db = Database(url)
    with db.transaction() as conn:
        conn.execute("CREATE TABLE probe (version INTEGER NOT NULL)")
    db.close()

    def step(version: int) -> Callable[[Connection], None]:
        def apply(conn: Connection) -> None:
            conn.execute("INSERT INTO probe (version) VALUES (?)", (version,))
            time.sleep(0.3)  # the other kiosk is at the lock (or, without it, applying too)
        return apply

    probes = tuple(Migration(v, f"probe {v}", step(v)) for v in (1, 2, 3))
    kiosks = [Database(url) for _ in range(3)]  # one connection each, like three kiosks
    try:
        results = race(3, lambda i: upgrade(kiosks[i], probes))
    finally:
        for kiosk in kiosks:
            kiosk.close()
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(v for applied in results for v in applied) == [1, 2, 3]  # each by exactly one kiosk
    check = Database(url)
    try:
        with check.connect() as conn:
            assert conn.rows("SELECT version, COUNT(*) FROM probe GROUP BY version ORDER BY version") == [
                (1, 1), (2, 1), (3, 1)]
        assert current_version(check) == 3
    finally:
        check.close()


def test_kiosks_opening_a_version_1_ledger_at_once_all_start(v1_ledger: str) -> None:
    before = dump(v1_ledger)
    results = race(3, lambda i: Ledger(v1_ledger))
    try:
        assert all(isinstance(r, Ledger) for r in results), results
        assert [r.piece("PC-1").stage for r in results] == ["plating"] * 3
    finally:
        for r in results:
            if isinstance(r, Ledger):
                r.close()
    assert version_of(v1_ledger) == latest_version() and dump(v1_ledger) == before
