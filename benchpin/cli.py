"""The one entry point: ``benchpin <command>``. Each area registers its own sub-commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from benchpin import __version__
from benchpin.commands import (EXIT_CONFIG, Registrar, add_config_argument, load_or_exit, plural,
                               print_problems)
from benchpin.config import ConfigCheck, ConfigError, cross_checks, default_config_path

def _all_checks() -> tuple[ConfigCheck, ...]:
    """Return every area's checks plus the cross-references inside one file."""
    from gateway.settings import gateway_checks
    from kiosk.settings import kiosk_checks

    return (gateway_checks, kiosk_checks, cross_checks)


def _check_config(args: argparse.Namespace) -> int:
    if args.file and args.config and args.file != args.config:
        print(f"benchpin: check-config: give FILE or --config, not both ({args.file} and {args.config})",
              file=sys.stderr)
        return EXIT_CONFIG
    path = args.file or args.config or default_config_path()
    config = load_or_exit(path, checks=_all_checks())
    parts = []
    if config.gateway:
        gw = config.gateway
        parts.append(f"gateway {gw.id} ({plural(len(gw.probes), 'probe')}, {plural(len(gw.scanners), 'scanner')}, "
                     f"{plural(len(gw.engravers), 'engraver')})")
    if config.kiosk:
        parts.append(f"kiosk for station {config.kiosk.station}")
    print(f"{path}: OK — site {config.site.id}: {'; '.join(parts) or 'no [gateway] or [kiosk] section'}")
    return 0


def _register_core(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    check = sub.add_parser("check-config", help="validate a station config and print every problem",
                           description="Validate a station config (FILE, or --config FILE, or "
                                       "$BENCHPIN_CONFIG, then /etc/benchpin/station.toml) with every check "
                                       "the gateway and the kiosk make, plus the kiosk's references to the "
                                       "gateway in the same file. Prints each problem with its key path "
                                       "(e.g. 'gateway.probes[1].baudrate: must be an integer') and exits "
                                       "with status 2 if there is any.")
    check.add_argument("file", metavar="FILE", nargs="?", default=None,
                       help="the TOML config to check (the same as --config FILE)")
    add_config_argument(check)
    check.set_defaults(func=_check_config)


def _registrars() -> list[Registrar]:
    from benchpin.demo import register as register_demo
    from benchpin.plant_cli import register as register_plant
    from gateway.cli import register as register_gateway
    from gateway.engraver_cli import register as register_engraver
    from kiosk.cli import register as register_kiosk
    from kiosk.server import register as register_kiosk_server

    return [_register_core, register_gateway, register_engraver, register_kiosk, register_kiosk_server,
            register_demo, register_plant]


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                help="what to do (benchpin COMMAND --help says more)")
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
