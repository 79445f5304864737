"""The one entry point: ``benchpin <command>``. Each area registers its own sub-commands."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Callable, Sequence

from benchpin import __version__
from benchpin.config import ConfigError, StationConfig, default_config_path, load_config

EXIT_CONFIG = 2

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="station config (default: $BENCHPIN_CONFIG, then /etc/benchpin/station.toml)")


def print_problems(source: str, exc: ConfigError) -> None:
    print(f"benchpin: {source}: the config has {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def load_or_exit(path: str | None) -> StationConfig:
    """Load the config or print every problem with its key path and exit with status 2."""
    path = path or default_config_path()
    try:
        return load_config(path)
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


def _check_config(args: argparse.Namespace) -> int:
    config = load_or_exit(args.file)
    parts = []
    if config.gateway:
        gw = config.gateway
        parts.append(f"gateway {gw.id} ({len(gw.probes)} probes, {len(gw.scanners)} scanners, "
                     f"{len(gw.engravers)} engravers)")
    if config.kiosk:
        parts.append(f"kiosk for station {config.kiosk.station}")
    print(f"{args.file}: OK — site {config.site.id}: {'; '.join(parts) or 'no [gateway] or [kiosk] section'}")
    return 0


def _register_core(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    check = sub.add_parser("check-config", help="validate a station config and print every problem",
                           description="Validate a station config. Prints each problem with its key path "
                                       "(e.g. 'gateway.probes[1].baudrate: must be an integer') and exits "
                                       "with status 2 if there is any.")
    check.add_argument("file", metavar="FILE", help="the TOML config to check")
    check.set_defaults(func=_check_config)


def _registrars() -> list[Registrar]:
    from benchpin.demo import register as register_demo
    from gateway.cli import register as register_gateway
    from gateway.engraver_cli import register as register_engraver
    from kiosk.cli import register as register_kiosk
    from kiosk.server import register as register_kiosk_server

    return [_register_core, register_gateway, register_engraver, register_kiosk, register_kiosk_server,
            register_demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchpin",
        description="benchpin: shop-floor software of a jewelry workshop. Gateways bridge furnace "
                    "probes, laser engravers and barcode scanners to MQTT; the kiosk tracks every "
                    "piece through its production stages.")
    parser.add_argument("--version", action="version", version=f"benchpin {__version__}")
    parser.add_argument("--log-level", default=os.environ.get("BENCHPIN_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper,
                        help="log verbosity (default: $BENCHPIN_LOG_LEVEL or INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _registrars():
        register(sub)
    return parser


def setup_logging(level: str) -> None:
    # Under systemd the journal stamps each line; elsewhere we do.
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # found only at start-up (a file named by the config is unusable)
        print_problems(getattr(args, "config", None) or getattr(args, "file", None) or default_config_path(), exc)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
