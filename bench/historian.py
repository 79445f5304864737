"""Furnace historian benchmark: ingest rate and disk bytes per reading, SQLite and PostgreSQL.

Run: ``.venv/bin/python bench/historian.py [--readings 20000] [--batch 10]``. For each database
it stores ``--readings`` probe readings the way the kiosk does (the Historian writes what a
second brought in one transaction: ``--batch`` readings, ten probes at 1 Hz by default) and,
as the baseline, the same readings one transaction each. It prints readings/s and the bytes
the database grew by per reading (the SQLite file with its WAL; PostgreSQL's
``pg_total_relation_size`` of the table and its index). The process's own ``write_bytes``
is printed for SQLite too (what the disk saw, including the WAL's rewrites).

PostgreSQL is the machine's (``BENCHPIN_TEST_POSTGRES`` or ``postgresql://postgres@127.0.0.1:5432/test``),
in a private schema dropped afterwards. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchpin.topics import utc_ts  # noqa: E402
from kiosk.ledger import Ledger  # noqa: E402

POSTGRES = os.environ.get("BENCHPIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def readings(n: int, offset: int) -> list[tuple[str, str, int, str, float | None, str]]:
    base = time.time()
    return [("casting-1", f"furnace-{i % 10}", offset + i, utc_ts_at(base + i / 10), 1000.0 + (i % 50), "")
            for i in range(n)]


def utc_ts_at(seconds: float) -> str:
    from datetime import datetime, timezone

    return utc_ts(datetime.fromtimestamp(seconds, timezone.utc))


def size_of(ledger: Ledger, path: Path | None) -> int:
    if path is not None:
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with ledger.db.connect() as conn:
        row = conn.row("SELECT pg_total_relation_size('probe_readings')")
    return int(row[0]) if row else 0


def run(ledger: Ledger, path: Path | None, n: int, batch: int, offset: int) -> tuple[float, float, int]:
    rows = readings(n, offset)
    before, disk_before = size_of(ledger, path), write_bytes()
    started = time.perf_counter()
    for i in range(0, n, batch):
        ledger.store_readings(rows[i:i + batch])
    elapsed = time.perf_counter() - started
    return n / elapsed, (size_of(ledger, path) - before) / n, (write_bytes() - disk_before) // n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=20_000, help="readings stored per run")
    parser.add_argument("--batch", type=int, default=10, help="readings per transaction, as the historian writes")
    args = parser.parse_args()
    print(f"{'database':12} {'writes':28} {'readings/s':>11} {'bytes/reading (db)':>19} {'write_bytes/reading':>20}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.sqlite"
        targets: list[tuple[str, str, Path | None]] = [("sqlite", f"sqlite:///{path}", path)]
        schema = f"bp_bench_{uuid.uuid4().hex[:8]}"
        try:
            import psycopg

            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            targets.append(("postgresql", f"{POSTGRES}?options=-csearch_path%3D{schema}", None))
        except Exception as exc:  # no PostgreSQL here: SQLite only
            print(f"(PostgreSQL skipped: {exc})")
        try:
            for name, url, file in targets:
                with Ledger(url) as ledger:
                    for label, batch, offset in ((f"historian ({args.batch} per commit)", args.batch, 0),
                                                 ("baseline (1 per commit)", 1, 10_000_000)):
                        n = args.readings if batch > 1 else max(1000, args.readings // 10)
                        rate, db_bytes, disk = run(ledger, file, n, batch, offset)
                        print(f"{name:12} {label:28} {rate:11,.0f} {db_bytes:19,.1f} "
                              f"{disk if file else '-':>20}")
        finally:
            if len(targets) > 1:
                import psycopg

                with psycopg.connect(POSTGRES, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
