"""``benchpin outbox dead-letters``: list the messages the broker kept refusing."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from benchpin.commands import add_config_argument, load_or_exit


def outbox_file(state_dir: str) -> Path:
    """Return the gateway's outbox file in ``state_dir``."""
    return Path(state_dir) / "outbox.sqlite"


def _dead_letters(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    if config.gateway is None:
        print(f"benchpin: {config.source}: no [gateway] section; no outbox to read")
        return 2
    path = outbox_file(config.gateway.state_dir)
    if not path.exists():
        print(f"benchpin: no outbox at {path} (gateway.state_dir); nothing to list")
        return 1
    # Read-only: the gateway may be running and writing the same file.
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            rows = db.execute("SELECT id, ts, topic, length(payload), reason, substr(payload, 1, 120) "
                              "FROM dead_letters ORDER BY id").fetchall()
        except sqlite3.OperationalError:
            rows = []  # an outbox from before dead letters existed
    if not rows:
        print(f"no dead letters in {path}")
        return 0
    print(f"{len(rows)} dead letter(s) in {path}:")
    for ident, ts, topic, size, reason, head in rows:
        preview = bytes(head).decode("utf-8", errors="replace")
        print(f"#{ident}  {ts}  {topic}  {size} bytes\n    reason: {reason}\n    payload: {preview}"
              f"{'…' if size > 120 else ''}")
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser("outbox", help="inspect the gateway's durable outbox",
                            description="Inspect the gateway's durable outbox (gateway.state_dir).")
    actions = parser.add_subparsers(dest="outbox_action", required=True, metavar="ACTION",
                                    help="dead-letters: list the messages the broker kept refusing")
    dead = actions.add_parser(
        "dead-letters", help="list the messages the broker kept refusing",
        description="List the messages moved aside because the broker disconnected the gateway "
                    "every time it sent them (over the broker's max_packet_size, or refused by "
                    "its ACL): id, time, topic, size, reason and the start of the payload.")
    add_config_argument(dead)
    dead.set_defaults(func=_dead_letters)
