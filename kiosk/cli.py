"""``benchpin pieces import``, ``benchpin operators add|set-pin|list`` and ``benchpin ledger version|upgrade``.

``benchpin kiosk`` is in kiosk/server.py.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import secrets
import sys
from pathlib import Path

from benchpin.commands import add_config_argument, load_or_exit
from benchpin.config import LANGUAGES, KioskConfig, StationConfig
from firmware_bridge.barcodes import ALPHABET, BarcodeRules, validate, with_check_digit
from kiosk.labels import LayoutError
from kiosk.labels.cli import print_ids
from kiosk.labels.cli import register as register_labels
from kiosk.labels.printers import PrinterError
from kiosk.ledger import (ROLES, DuplicateOperator, ImportRejected, Ledger, LedgerSchemaError, NotFound,
                          parse_pieces_csv)
from kiosk.ledger.model import NAME_MAX, SUPERVISOR
from kiosk.ledger.pins import pin_problem
from kiosk.ledger.db import Database, DatabaseUnavailable, sqlite_path
from kiosk.ledger.migrations import current_version, latest_version, upgrade, where
from kiosk.settings import kiosk_checks

log = logging.getLogger(__name__)

EXIT_REFUSED = 1


OPERATOR_PREFIX = "OP-"  # what the kiosk badges in with
RANDOM_BADGE_LENGTH = 8  # 36**8 ≈ 2.8e12 ids: a guesser held to 5 tries a minute finds none


def _kiosk_config(args: argparse.Namespace) -> tuple[StationConfig, KioskConfig]:
    config = load_or_exit(args.config, checks=(kiosk_checks,))
    if config.kiosk is None:
        print(f"benchpin: {config.source}: no [kiosk] section (it names the ledger database)", file=sys.stderr)
        raise SystemExit(2)
    return config, config.kiosk


def _open_ledger(kiosk: KioskConfig) -> Ledger:
    try:
        return Ledger.from_config(kiosk)
    except (DatabaseUnavailable, LedgerSchemaError) as exc:  # unreachable, or upgraded by a newer benchpin
        print(f"benchpin: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None


def _import_pieces(args: argparse.Namespace) -> int:
    config, kiosk = _kiosk_config(args)
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"benchpin: {args.file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_REFUSED
    with _open_ledger(kiosk) as ledger:
        try:
            specs = parse_pieces_csv(data, ledger.workflow, rules=config.barcodes)
            count = ledger.import_pieces(specs, station="import")
        except ImportRejected as exc:
            print(f"benchpin: {args.file}: nothing imported; {len(exc.problems)} problem(s):", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return EXIT_REFUSED
        print(f"{args.file}: imported {count} piece(s)")
        if args.labels:
            return _print_imported(config, ledger, [spec.piece_id for spec in specs], args.printer)
    return 0


def _print_imported(config: StationConfig, ledger: Ledger, ids: list[str], printer: str | None) -> int:
    try:
        written = print_ids(config, ledger, ids, printer)
    except (PrinterError, LayoutError) as exc:
        print(f"benchpin: labels not printed: {exc} (the pieces are imported; benchpin label ID… prints them)",
              file=sys.stderr)
        return EXIT_REFUSED
    print(f"{len(ids)} label(s) → {', '.join(written)}")
    return 0


def _add_operator(args: argparse.Namespace) -> int:
    config, kiosk = _kiosk_config(args)
    if bool(args.operator_id) == bool(args.random):
        print("benchpin: give a badge id (e.g. OP-0007) or --random, not both and not neither", file=sys.stderr)
        return EXIT_REFUSED
    if args.operator_id:
        verdict = validate(args.operator_id, config.barcodes)
        if not verdict.valid or verdict.prefix != OPERATOR_PREFIX:
            why = verdict.reason or f"it would scan as a {verdict.prefix} code, not a badge"
            print(f"benchpin: {args.operator_id!r} cannot be a badge: {why} (badges start {OPERATOR_PREFIX})",
                  file=sys.stderr)
            return EXIT_REFUSED
    pin = _read_pin(args)
    if pin is None and (args.pin or args.pin_file):
        return EXIT_REFUSED
    with _open_ledger(kiosk) as ledger:
        for _ in range(5):  # a clash of 8 random base-36 characters is all but impossible; retry anyway
            operator_id = args.operator_id or random_badge(config.barcodes)
            try:
                operator = ledger.add_operator(operator_id, args.name, args.role, pin=pin, language=args.lang)
                break
            except DuplicateOperator as exc:
                if not args.random:
                    print(f"benchpin: {exc}", file=sys.stderr)
                    return EXIT_REFUSED
            except ValueError as exc:
                print(f"benchpin: {exc}", file=sys.stderr)
                return EXIT_REFUSED
        else:
            print("benchpin: could not find a free random badge id; try again", file=sys.stderr)
            return EXIT_REFUSED
    pin_note = " with a PIN" if operator.has_pin else ""
    lang_note = f", screens in {operator.language}" if operator.language else ""
    print(f"added {operator.operator_id} ({operator.name}, {operator.role}{lang_note}){pin_note}")
    if operator.role == SUPERVISOR and not operator.has_pin:
        print(f"note: supervisor actions on the touch screens need a PIN: "
              f"benchpin operators set-pin {operator.operator_id}", file=sys.stderr)
    return 0


def random_badge(rules: BarcodeRules) -> str:
    """Return ``OP-`` + 8 random base-36 characters (+ the site's check character): unguessable."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_BADGE_LENGTH))
    return with_check_digit(OPERATOR_PREFIX + body, rules)


def _read_pin(args: argparse.Namespace) -> str | None:
    """Read the PIN from --pin-file (``-``: stdin), or prompt for it (twice) with --pin; None if none."""
    if args.pin_file:
        try:
            raw = sys.stdin.readline() if args.pin_file == "-" else Path(args.pin_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"benchpin: {args.pin_file}: cannot read the PIN: {getattr(exc, 'strerror', None) or exc}",
                  file=sys.stderr)
            return None
        pin = raw.strip()
    elif args.pin:
        if not sys.stdin.isatty():  # a script pipes it in
            pin = sys.stdin.readline().strip()
        else:
            pin = getpass.getpass("PIN (4 to 8 digits): ")
            if getpass.getpass("the same PIN again: ") != pin:
                print("benchpin: the two PINs differ; nothing changed", file=sys.stderr)
                return None
    else:
        return None
    if problem := pin_problem(pin):
        print(f"benchpin: {problem}; nothing changed", file=sys.stderr)
        return None
    return pin


def _set_pin(args: argparse.Namespace) -> int:
    _, kiosk = _kiosk_config(args)
    args.pin = not args.pin_file
    pin = _read_pin(args)
    if pin is None:
        return EXIT_REFUSED
    with _open_ledger(kiosk) as ledger:
        try:
            ledger.set_pin(args.operator_id, pin)
        except NotFound:
            print(f"benchpin: unknown operator {args.operator_id} (benchpin operators list)", file=sys.stderr)
            return EXIT_REFUSED
    print(f"PIN set for {args.operator_id}")
    return 0


def _list_operators(args: argparse.Namespace) -> int:
    _, kiosk = _kiosk_config(args)
    with _open_ledger(kiosk) as ledger:
        operators = ledger.operators()
    for operator in operators:
        print(f"{operator.operator_id}\t{operator.role}\t{operator.name}\t{operator.language or '-'}")
    if not operators:
        print("no operators yet: benchpin operators add OP-0001 --name NAME --role ROLE", file=sys.stderr)
    return 0


def _ledger_version(args: argparse.Namespace) -> int:
    _, kiosk = _kiosk_config(args)
    path = sqlite_path(kiosk.database)
    if path and not Path(path).exists():  # opening it would create an empty file
        print(f"{path}: no ledger yet; any kiosk command creates it at schema version {latest_version()}")
        return 0
    try:
        db = Database(kiosk.database)
        try:
            version = current_version(db)
        finally:
            db.close()
    except (DatabaseUnavailable, LedgerSchemaError) as exc:
        print(f"benchpin: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    latest = latest_version()
    if version > latest:
        advice = "upgrade benchpin"
    elif version < latest:
        advice = "benchpin ledger upgrade, or opening it with any kiosk command, brings it up to date"
    else:
        advice = "up to date"
    print(f"{where(kiosk.database)}: schema version {version}; this benchpin knows up to {latest} ({advice})")
    return 0


def _ledger_upgrade(args: argparse.Namespace) -> int:
    _, kiosk = _kiosk_config(args)
    try:
        db = Database(kiosk.database)
        try:
            applied = upgrade(db)
        finally:
            db.close()
    except (DatabaseUnavailable, LedgerSchemaError) as exc:
        print(f"benchpin: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if applied:
        print(f"{where(kiosk.database)}: applied schema version(s) {', '.join(map(str, applied))}")
    else:
        print(f"{where(kiosk.database)}: already at schema version {latest_version()}; nothing to do")
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    pieces = sub.add_parser("pieces", help="manage pieces in the ledger",
                            description="Manage the pieces of the ledger named by kiosk.database.")
    pieces_sub = pieces.add_subparsers(dest="pieces_command", metavar="ACTION", required=True,
                                       help="import (ACTION --help says more)")
    imp = pieces_sub.add_parser(
        "import", help="import pieces from a CSV file (all rows or none)",
        description="Import pieces from a UTF-8 CSV with a header row (columns: piece_id, route, style, "
                    "order_id, metal, ring_size, chain_length_cm, metal_colour, stone_type, stone_colour, "
                    "stone_shape, enamel, tree_id). Any bad row aborts the import; every problem is "
                    "printed as 'line N: column: problem'.")
    imp.add_argument("file", metavar="FILE.csv", help="the UTF-8 CSV file to import")
    imp.add_argument("--labels", action="store_true",
                     help="then print a job-bag label for each imported piece")
    imp.add_argument("--printer", metavar="NAME",
                     help="with --labels: the [[labels.printers]] entry to print on (default: the first)")
    add_config_argument(imp)
    imp.set_defaults(func=_import_pieces)

    operators = sub.add_parser("operators", help="manage operator badges and roles",
                               description="Manage the operators of the ledger named by kiosk.database: "
                                           "their badges, names and roles.")
    ops_sub = operators.add_subparsers(dest="operators_command", metavar="ACTION", required=True,
                                       help="add, set-pin or list (ACTION --help says more)")
    add = ops_sub.add_parser("add", help="register an operator badge with a role",
                             description="Register an operator badge (e.g. OP-0007, or --random) with a name, "
                                         "a role and, for supervisors, a PIN.")
    add.add_argument("operator_id", metavar="OP-ID", nargs="?", default="",
                     help="the badge's code, e.g. OP-0007 (or --random)")
    add.add_argument("--random", action="store_true",
                     help=f"issue a random badge id: {OPERATOR_PREFIX} + {RANDOM_BADGE_LENGTH} random letters and "
                          "digits (+ the [barcodes] check character); it is printed")
    add.add_argument("--name", required=True, help=f"the operator's name, as the kiosk shows it (at most {NAME_MAX} "
                                                   "characters)")
    add.add_argument("--role", required=True, choices=ROLES,
                     help=f"what the operator may do: {', '.join(ROLES)}")
    add.add_argument("--pin", action="store_true",
                     help="ask for a 4 to 8 digit PIN (read from stdin when it is not a terminal); supervisor "
                          "actions on the touch screens need it")
    add.add_argument("--pin-file", metavar="FILE", help="read the PIN from FILE ('-': stdin) instead of asking")
    add.add_argument("--lang", choices=LANGUAGES, default="",
                     help=f"the language of the screens while this operator is badged in ({', '.join(LANGUAGES)}; "
                          "default: each kiosk's kiosk.language)")
    add_config_argument(add)
    add.set_defaults(func=_add_operator)
    set_pin = ops_sub.add_parser("set-pin", help="set or replace an operator's PIN",
                                 description="Set or replace an operator's 4 to 8 digit PIN (asked twice on a "
                                             "terminal, else read from stdin), kept hashed in the ledger.")
    set_pin.add_argument("operator_id", metavar="OP-ID", help="the operator's badge, e.g. OP-0001")
    set_pin.add_argument("--pin-file", metavar="FILE", help="read the PIN from FILE ('-': stdin) instead of asking")
    add_config_argument(set_pin)
    set_pin.set_defaults(func=_set_pin)
    lst = ops_sub.add_parser("list", help="list operators (id, role, name, language)",
                             description="List the operators, one per line, tab-separated: badge, role, name, "
                                         "language ('-': each kiosk's kiosk.language).")
    add_config_argument(lst)
    lst.set_defaults(func=_list_operators)

    ledger = sub.add_parser("ledger", help="show or upgrade the ledger's schema version",
                            description="The ledger's tables carry a schema version; a newer benchpin "
                                        "upgrades them in order, and refuses a ledger newer than itself.")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True,
                                       help="version or upgrade")
    version = ledger_sub.add_parser("version", help="print the ledger's schema version (changes nothing)",
                                    description="Print the ledger's schema version and the newest this "
                                                "benchpin knows; changes nothing.")
    add_config_argument(version)
    version.set_defaults(func=_ledger_version)
    upg = ledger_sub.add_parser(
        "upgrade", help="apply the schema versions this benchpin knows and the ledger lacks",
        description="Apply the missing schema versions in order, each in its own transaction. Opening the "
                    "ledger (benchpin kiosk, pieces, operators) does the same; this does it ahead of time.")
    add_config_argument(upg)
    upg.set_defaults(func=_ledger_upgrade)

    register_labels(sub)
