"""Passport benchmark: the time to build a piece's passport over a year of history.

Run: ``.venv/bin/python bench/passport.py [--moves 2000] [--database sqlite|postgresql]``. It
fills a ledger with a year of furnace history at the pour's furnace (per-minute rows for
365 days, raw readings for the last 7, as the historian keeps them), one piece whose tree was
poured, and ``--moves`` moves of that piece (rework loops through filing and casting, each
weighed), then times, over 20 runs each, ``Ledger.passport`` (the JSON the API returns) beside
the baseline ``Ledger.history`` (the events alone), and prints the medians. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchpin.topics import utc_ts  # noqa: E402
from kiosk.ledger import Ledger, PieceSpec  # noqa: E402

POSTGRES = os.environ.get("BENCHPIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def fill(ledger: Ledger, moves: int) -> None:
    ledger.add_operator("OP-SUP", "Supervisor", "supervisor")
    ledger.import_pieces([PieceSpec(piece_id="PC-1", route="production", metal="silver_925", tree_id="TR-1")])
    for stage in ("cad", "mold", "wax_tree", "casting"):
        ledger.move_tree("TR-1", stage, operator="OP-SUP", station="bench")
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    with ledger.db.transaction() as conn:  # a year of per-minute furnace history, as the historian rolls it up
        for minute in range(365 * 24 * 60, 7 * 24 * 60, -1):
            conn.execute("INSERT INTO probe_minutes (gateway, probe, minute, min_c, avg_c, max_c, n) "
                         "VALUES ('casting-1', 'furnace-1', ?, 900, 950, 1000, 60)",
                         (utc_ts(now - timedelta(minutes=minute)),))
    raw = [("casting-1", "furnace-1", seq, utc_ts(now - timedelta(seconds=seq * 10)), 980.0, "")
           for seq in range(7 * 24 * 360)]
    for i in range(0, len(raw), 5000):
        ledger.store_readings(raw[i:i + 5000])
    ledger.pour("TR-1", gateway="casting-1", probe="furnace-1", value_c=985.0, metal="silver_925",
                window=(950.0, 1010.0), operator="OP-SUP", station="bench")
    grams = 10.0
    for i in range(moves // 2):
        ledger.advance("PC-1", operator="OP-SUP", station="bench", weight_g=grams, note="in")
        grams -= 0.001
        ledger.move("PC-1", "casting", operator="OP-SUP", station="bench", note=f"rework {i}", weight_g=grams)


def median_ms(call, runs: int = 20) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--moves", type=int, default=2000, help="moves of the piece")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    schema = f"bp_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        if args.database == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'ledger.sqlite'}"
        else:
            import psycopg

            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        try:
            with Ledger(url) as ledger:
                started = time.perf_counter()
                fill(ledger, args.moves)
                print(f"filled in {time.perf_counter() - started:.1f} s: {len(ledger.history('PC-1'))} events, "
                      f"a year of furnace history")
                passport = median_ms(lambda: ledger.passport("PC-1"))
                history = median_ms(lambda: ledger.history("PC-1"))
                print(f"{args.database}: passport {passport:.1f} ms (median of 20), history alone {history:.1f} ms "
                      f"(baseline), ratio {passport / history:.1f}x")
        finally:
            if args.database == "postgresql":
                import psycopg

                with psycopg.connect(POSTGRES, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
