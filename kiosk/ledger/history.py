"""The furnace historian's tables: raw readings, per-minute roll-ups, and the series they give.

Readings are keyed by (gateway, probe, ``seq``): a reading the broker delivers twice (QoS 1
after a reconnect) is stored once. :func:`roll_up` turns raw readings older than a cutoff into
one row per minute (min, average, max of the readings with a value; a minute of faults only
has none) and deletes them; :func:`prune` drops minutes older than the history's reach.
:func:`series` buckets both into ``step``-second points ``[ts, min_c, avg_c, max_c]``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Iterable

from benchpin.topics import utc_ts
from kiosk.ledger.db import Connection
from kiosk.ledger.model import parse_ts

Reading = tuple[str, str, int, str, float | None, str]  # gateway, probe, seq, ts, value_c, fault
Point = list[object]  # [ts, min_c, avg_c, max_c]
MAX_POINTS = 5000  # one series answer: a chart needs far fewer


def store(conn: Connection, readings: Iterable[Reading]) -> int:
    """Insert readings, skipping any already stored (same gateway, probe and seq); return how many were new."""
    added = 0
    for reading in readings:
        added += conn.rowcount("INSERT INTO probe_readings (gateway, probe, seq, ts, value_c, fault) "
                               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (gateway, probe, seq) DO NOTHING", reading)
    return added


def roll_up(conn: Connection, before: str) -> int:
    """Fold raw readings older than ``before`` into per-minute rows (merging into any there); return rows folded."""
    found = conn.rows("SELECT gateway, probe, ts, value_c FROM probe_readings WHERE ts < ?", (before,))
    minutes: dict[tuple[str, str, str], list[float | None]] = defaultdict(list)
    for gateway, probe, ts, value in found:
        minutes[(gateway, probe, ts[:16] + ":00.000Z")].append(None if value is None else float(value))
    for (gateway, probe, minute), values in minutes.items():
        known = [v for v in values if v is not None]
        old = conn.row("SELECT min_c, avg_c, max_c, n FROM probe_minutes WHERE gateway = ? AND probe = ? AND minute = ?",
                       (gateway, probe, minute))
        row: tuple[float | None, float | None, float | None, int]
        if old is not None and old[3] and old[1] is not None:  # merge with what an earlier roll-up left
            count = int(old[3])
            known_sum = sum(known) + float(old[1]) * count
            low = min([float(old[0]), *known])
            high = max([float(old[2]), *known])
            n = count + len(known)
            row = (low, known_sum / n, high, n)
        elif known:
            row = (min(known), sum(known) / len(known), max(known), len(known))
        else:
            row = (None, None, None, 0)
        conn.execute("INSERT INTO probe_minutes (gateway, probe, minute, min_c, avg_c, max_c, n) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gateway, probe, minute) DO UPDATE SET "
                     "min_c = excluded.min_c, avg_c = excluded.avg_c, max_c = excluded.max_c, n = excluded.n",
                     (gateway, probe, minute, *row))
    conn.execute("DELETE FROM probe_readings WHERE ts < ?", (before,))
    return len(found)


def prune(conn: Connection, before: str) -> int:
    """Drop per-minute rows older than ``before``; return how many."""
    return conn.rowcount("DELETE FROM probe_minutes WHERE minute < ?", (before,))


def series(conn: Connection, gateway: str, probe: str, start: str, end: str, step_s: float) -> list[Point]:
    """Points ``[ts, min_c, avg_c, max_c]`` every ``step_s`` seconds over [start, end) (empty buckets left out)."""
    origin = parse_ts(start)
    buckets: dict[int, list[float]] = defaultdict(lambda: [float("inf"), 0.0, float("-inf"), 0.0])

    def add(ts: str, low: float, total: float, high: float, n: int) -> None:
        index = int((parse_ts(ts) - origin).total_seconds() // step_s)
        b = buckets[index]
        b[0], b[1], b[2], b[3] = min(b[0], low), b[1] + total, max(b[2], high), b[3] + n

    for ts, value in conn.rows("SELECT ts, value_c FROM probe_readings WHERE gateway = ? AND probe = ? AND ts >= ? "
                               "AND ts < ? AND value_c IS NOT NULL", (gateway, probe, start, end)):
        add(ts, float(value), float(value), float(value), 1)
    for minute, low, avg, high, n in conn.rows(
            "SELECT minute, min_c, avg_c, max_c, n FROM probe_minutes WHERE gateway = ? AND probe = ? "
            "AND minute >= ? AND minute < ? AND n > 0", (gateway, probe, start, end)):
        add(minute, float(low), float(avg) * int(n), float(high), int(n))
    return [[utc_ts(origin + timedelta(seconds=index * step_s)), round(b[0], 2), round(b[1] / b[3], 2), round(b[2], 2)]
            for index, b in sorted(buckets.items())]
