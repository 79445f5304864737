"""``benchpin plant acl|bridge``: the plant broker's users and a station's bridge, from the inventory."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchpin.commands import EXIT_CONFIG, plural, print_problems
from benchpin.config import ConfigError
from benchpin.plant import (bridge_conf, ensure_passwords, hash_password, load_plant, nats_users,
                            read_password)


def _write(text: str, output: str | None, *, secret: bool) -> None:
    """Print ``text``, or write it to ``output`` (mode 0640 when it holds a secret)."""
    if not output:
        sys.stdout.write(text)
        return
    path = Path(output)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640 if secret else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _acl(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.inventory)
        made = ensure_passwords(plant)
        if made:
            print(f"benchpin: made {plural(len(made), 'new password')} in {plant.secrets_dir}: "
                  f"{', '.join(p.stem for p in made)}", file=sys.stderr)
        hashes = {user: hash_password(read_password(plant, user), plant.bcrypt_rounds) for user in plant.users()}
    except ConfigError as exc:
        print_problems(args.inventory, exc)
        return EXIT_CONFIG
    _write(nats_users(plant, hashes), args.output, secret=False)
    return 0


def _bridge(args: argparse.Namespace) -> int:
    try:
        plant = load_plant(args.inventory)
        station = plant.station(args.station)
        text = bridge_conf(plant, station, read_password(plant, station.gateway))
    except KeyError as exc:
        print(f"benchpin: {args.inventory}: {exc.args[0]}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:
        print_problems(args.inventory, exc)
        return EXIT_CONFIG
    if not plant.ca_file:
        print(f"benchpin: {args.inventory}: plant.ca_file is not set, so this bridge logs in without TLS and "
              f"sends {station.gateway}'s password in clear; set it unless the plant network is trusted",
              file=sys.stderr)
    _write(text, args.output, secret=True)
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser(
        "plant", help="the plant broker's per-station users and each station's bridge, from the plant inventory",
        description="A plant runs many stations: each station's mosquitto bridges the topics it owns to "
                    "the plant broker (a NATS cluster with its MQTT listener), on which every station has "
                    "its own user that may publish under its own gateway id only. Both are made from the "
                    "plant inventory (INVENTORY.toml: [plant] site, brokers, secrets_dir; one [[stations]] "
                    "per station Pi); see docs/plant.md.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, help="acl or bridge")
    text = ("print the plant broker's users and permissions (a nats-server 'authorization' block that "
            "every node includes)")
    acl = actions.add_parser("acl", help=text, description=text[0].upper() + text[1:] + ". A user lacking "
                             "a password file in [plant] secrets_dir gets a new random one first; the "
                             "block holds only bcrypt hashes.")
    acl.add_argument("inventory", metavar="INVENTORY.toml", help="the plant inventory")
    acl.add_argument("--output", metavar="FILE", help="write the block to FILE instead of printing it")
    acl.set_defaults(func=_acl)
    text = "print one station's mosquitto bridge to the plant broker (conf.d/plant-bridge.conf)"
    bridge = actions.add_parser("bridge", help=text, description=text[0].upper() + text[1:] + ": the "
                                "topics the station owns out, its devices' commands in, QoS 1, a persistent "
                                "session and a disk queue through a plant outage. It holds the station's "
                                "plant password (from [plant] secrets_dir).")
    bridge.add_argument("inventory", metavar="INVENTORY.toml", help="the plant inventory")
    bridge.add_argument("station", metavar="GATEWAY_ID", help="the station, by its gateway id")
    bridge.add_argument("--output", metavar="FILE", help="write the file (mode 0640) instead of printing it")
    bridge.set_defaults(func=_bridge)
