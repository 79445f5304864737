"""``benchpin gateway``: run a station gateway."""

from __future__ import annotations

import argparse
import logging

from benchpin.commands import EXIT_CANNOT_START, add_config_argument, load_or_exit, stop_event_on_signals
from gateway.settings import gateway_checks

log = logging.getLogger(__name__)


def _run_gateway(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config, checks=(gateway_checks,))
    if config.gateway is None:
        print(f"benchpin: {config.source}: no [gateway] section; nothing to run")
        return 2
    from benchpin.outbox import OutboxUnusable
    from gateway.service import Gateway

    stop = stop_event_on_signals()
    try:
        gateway = Gateway(config)
    except OutboxUnusable as exc:  # another gateway on this state_dir, unreadable seq marks, no write access
        log.error("cannot start the gateway: %s", exc)
        return EXIT_CANNOT_START
    gateway.run(stop)
    return 0



def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser(
        "gateway", help="run a station gateway (devices to MQTT)",
        description="Run a station gateway: open every configured probe, scanner and engraver, "
                    "publish their data to MQTT through a durable outbox (nothing accepted is lost "
                    "when the broker is down or the gateway restarts), and run engraver jobs.")
    add_config_argument(parser)
    parser.set_defaults(func=_run_gateway)
    from gateway.outbox_cli import register as register_outbox

    register_outbox(sub)
