"""What the time report's API and screen share: reading a period, and writing the CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta, timezone
from typing import Mapping, Sequence
from zoneinfo import ZoneInfo

from flask import Response

from benchpin.topics import utc_ts
from kiosk.ledger import TimeRow

DEFAULT_DAYS = 7
CSV_COLUMNS = ("stage", "operator", "name", "stays", "work_median_s", "work_p90_s", "dwell_median_s",
               "dwell_p90_s")


class BadPeriod(ValueError):
    """``from``/``to`` could not be read; the message says which and how to write it."""


def period(args: Mapping[str, str], tz: str, now: datetime | None = None) -> tuple[str, str]:
    """Read ``from`` and ``to`` (a date ``2026-12-01``, midnight in ``tz``, or an RFC 3339 time).

    ``to`` is exclusive; a date as ``to`` includes that whole day. Defaults: the last
    :data:`DEFAULT_DAYS` days up to now. Returns UTC timestamps as the ledger stores them.
    """
    now = now or datetime.now(timezone.utc)
    start = _moment(args.get("from", ""), "from", tz, end_of_day=False) or now - timedelta(days=DEFAULT_DAYS)
    end = _moment(args.get("to", ""), "to", tz, end_of_day=True) or now
    if end <= start:
        raise BadPeriod(f"'to' ({utc_ts(end)}) must be after 'from' ({utc_ts(start)})")
    return utc_ts(start), utc_ts(end)


def _moment(text: str, name: str, tz: str, *, end_of_day: bool) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date() + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time(), ZoneInfo(tz))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadPeriod(f"'{name}' must be a date (2026-12-01) or a time (2026-12-01T08:00:00Z), "
                        f"not {text[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(tz))


LOSS_COLUMNS = ("key", "in_g", "out_g", "loss_g", "loss_fine_g", "loss_pct", "weighings", "flagged")


def time_csv(rows: Sequence[TimeRow]) -> str:
    """The time report as CSV: a header, then one line per stage and operator (seconds)."""
    return _csv(CSV_COLUMNS, [row.to_dict() for row in rows])


def loss_csv(rows: Sequence[Mapping[str, object]]) -> str:
    """The metal loss report as CSV: the grouping key, grams in, out and lost, fine grams lost."""
    return _csv(LOSS_COLUMNS, rows)


def csv_download(text: str, name: str, start: str, end: str) -> Response:
    """A CSV report as a download named for its period (``time-2026-12-01-2026-12-08.csv``)."""
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-{start[:10]}-{end[:10]}.csv"'})


def _csv(columns: Sequence[str], rows: Sequence[Mapping[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])
    return out.getvalue()


def _cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (``=…``, ``+…``, ``@…``) gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
