"""The one builder of station configs for the tests: TOML-shaped tables, parsed or written.

:func:`station` returns the tables of a station config as a dict:

- ``[site]`` (``jaipur`` unless ``site`` says otherwise, with ``timezone`` when given);
- ``[mqtt]`` on loopback at ``port`` (with a short keepalive) when a port or ``mqtt`` is given;
- ``[gateway]`` when ``gateway`` is given: ``casting-1`` with its state in ``tmp_path/state``
  and, on a station with a broker port (one a test runs), fast back-off;
- ``[kiosk]`` when ``kiosk`` is given: the casting bench on a SQLite ledger in ``tmp_path``;
- any other table as a keyword (``barcodes``, ``labels``, ``metals``…), as it is.

What the test passes wins over each default. :func:`station_config` parses the tables into
the :class:`StationConfig` the code sees; :func:`station_file` writes them as TOML (with
``tomli-w``, so paths are escaped) for a test that runs ``benchpin`` as a process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from benchpin.config import StationConfig, parse_config
from tests.helpers import write_toml

SITE = "jaipur"
FAST_BACKOFF = {"backoff_initial_s": 0.05, "backoff_max_s": 0.5}


def station(tmp_path: Path | None = None, port: int | None = None, *, site: str = SITE,
            timezone: str | None = None, mqtt: Mapping[str, Any] | None = None,
            gateway: Mapping[str, Any] | None = None, kiosk: Mapping[str, Any] | None = None,
            **tables: Any) -> dict[str, Any]:
    """Return a station config's tables (see the module docstring for the defaults)."""
    data: dict[str, Any] = {"site": {"id": site} | ({"timezone": timezone} if timezone else {})}
    if port is not None or mqtt is not None:
        loopback: dict[str, Any] = {"host": "127.0.0.1", "keepalive_s": 5}
        if port is not None:
            loopback["port"] = port
        data["mqtt"] = {**loopback, **(mqtt or {})}
    if gateway is not None:
        defaults: dict[str, Any] = {"id": "casting-1"}
        if tmp_path is not None:
            defaults["state_dir"] = str(tmp_path / "state")
        if port is not None:
            defaults.update(FAST_BACKOFF)
        data["gateway"] = {**defaults, **gateway}
    if kiosk is not None:
        defaults = {"station": "casting"}
        if tmp_path is not None:
            defaults["database"] = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        data["kiosk"] = {**defaults, **kiosk}
    data.update(tables)
    return data


def station_config(tmp_path: Path | None = None, port: int | None = None, **options: Any) -> StationConfig:
    """Parse :func:`station`'s tables into the config the code sees."""
    return parse_config(station(tmp_path, port, **options))


def station_file(path: Path, data: Mapping[str, Any]) -> Path:
    """Write a station's tables as TOML to ``path`` (``station.toml`` in a directory); return it."""
    if path.is_dir():
        path = path / "station.toml"
    return write_toml(path, dict(data))
