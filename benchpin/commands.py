"""What every ``benchpin`` sub-command shares: the ``--config`` option, loading, signals.

A floor module: the areas' command modules (``gateway/cli.py``, ``kiosk/cli.py``, …) import
it, and it imports no area. Each area hands its own config checks to :func:`load_or_exit`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable

from benchpin.config import ConfigCheck, ConfigError, StationConfig, default_config_path, load_config

EXIT_CONFIG = 2
EXIT_CANNOT_START = 3  # the config is sound but a file it names cannot be used (the log says why)

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def plural(count: int, noun: str) -> str:
    """Return ``1 problem`` / ``2 problems``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` the ``--config FILE`` option every command shares."""
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="station config (default: $BENCHPIN_CONFIG, then /etc/benchpin/station.toml)")


def print_problems(source: str, exc: ConfigError) -> None:
    """Print every problem of a config on stderr, one per line under a count."""
    print(f"benchpin: {source}: the config has {plural(len(exc.problems), 'problem')}:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def load_or_exit(path: str | None, checks: Iterable[ConfigCheck] = ()) -> StationConfig:
    """Load the config or print every problem with its key path and exit with status 2."""
    path = path or default_config_path()
    try:
        return load_config(path, checks=checks)
    except ConfigError as exc:
        print_problems(path, exc)
        raise SystemExit(EXIT_CONFIG) from None


def stop_event_on_signals() -> threading.Event:
    """Return an event set by SIGTERM or SIGINT (systemd stop, Ctrl-C)."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        logging.getLogger("benchpin").info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop
