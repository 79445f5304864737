"""``benchpin label ID…``: print the label of a piece, a wax tree or an operator badge.

Registered by :func:`kiosk.cli.register`; ``benchpin pieces import --labels`` uses
:func:`print_ids` for the pieces it has just imported.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Sequence

from benchpin.commands import add_config_argument, load_or_exit
from benchpin.config import PrinterConfig, StationConfig
from kiosk.labels.content import Label, badge_label, piece_label, tree_label
from kiosk.labels.layout import LabelSize, LayoutError
from kiosk.labels.printers import PrinterError, print_labels, write_output
from kiosk.ledger import DatabaseUnavailable, Ledger, LedgerSchemaError, NotFound

EXIT_REFUSED = 1
EXIT_USAGE = 2
PIECE_PREFIX, TREE_PREFIX, OPERATOR_PREFIX = "PC-", "TR-", "OP-"

EPILOG = """\
The id is read from the ledger (kiosk.database) exactly as it is stored, check character
included, and every label's Code 128 scans back to it. Without --printer or --output the
first [[labels.printers]] of the config prints. --datamatrix adds a Data Matrix (ECC 200) of
the id beside the Code 128 (labels.datamatrix = true in the config does it for every label;
--no-datamatrix leaves it off).

examples:
  benchpin label PC-2026-0042                       job-bag tag on the first printer
  benchpin label PC-2026-0042 PC-2026-0043 --printer bench-zebra
  benchpin label TR-0112 --output tree.pdf          tree tag as a PDF page
  benchpin label OP-0007 --output badge.png         badge card as a PNG
  benchpin label PC-2026-0042 --output tag.zpl --dpi 300 --size 57x32
  benchpin label PC-2026-0042 --datamatrix          Code 128 and Data Matrix side by side
"""


def label_for(ledger: Ledger, code: str) -> Label:
    """Return the label of a piece, tree or operator id (by its prefix), or raise NotFound."""
    if code.startswith(TREE_PREFIX):
        return tree_label(ledger.tree(code))
    if code.startswith(OPERATOR_PREFIX):
        return badge_label(ledger.operator(code))
    return piece_label(ledger.piece(code))


def choose_printer(config: StationConfig, name: str | None) -> PrinterConfig:
    """Return the printer named ``name`` (the first when None) or raise :class:`PrinterError`."""
    printers = config.labels.printers
    if not printers:
        raise PrinterError("the config has no [[labels.printers]]; add one, or write a file with --output")
    if name is None:
        return printers[0]
    printer = config.labels.printer(name)
    if printer is None:
        raise PrinterError(f"no printer {name!r} in [[labels.printers]] (it has: "
                           f"{', '.join(p.name for p in printers)})")
    return printer


def print_ids(config: StationConfig, ledger: Ledger, ids: Sequence[str], printer_name: str | None, *,
              datamatrix: bool | None = None) -> list[str]:
    """Print the labels of ``ids`` on a configured printer; raise NotFound, PrinterError or LayoutError.

    ``datamatrix`` None follows ``labels.datamatrix``.
    """
    printer = choose_printer(config, printer_name)
    with_matrix = config.labels.datamatrix if datamatrix is None else datamatrix
    return print_labels([label_for(ledger, code) for code in ids], printer, datamatrix=with_matrix)


def parse_size(text: str) -> tuple[float, float]:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[xX×]\s*(\d+(?:\.\d+)?)\s*", text)
    if not match or not all(5.0 <= float(v) <= 500.0 for v in match.groups()):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in mm, e.g. 57x32 (got {text!r})")
    return float(match.group(1)), float(match.group(2))


def _label(args: argparse.Namespace) -> int:
    from kiosk.settings import kiosk_checks

    config = load_or_exit(args.config, checks=(kiosk_checks,))
    if config.kiosk is None:
        print(f"benchpin: {config.source}: no [kiosk] section (it names the ledger the labels are read from)",
              file=sys.stderr)
        return EXIT_USAGE
    if (args.dpi or args.size) and not args.output:
        print("benchpin: label: --dpi and --size go with --output (a printer has its own in the config)",
              file=sys.stderr)
        return EXIT_USAGE
    with_matrix = config.labels.datamatrix if args.datamatrix is None else args.datamatrix
    try:
        with Ledger.from_config(config.kiosk) as ledger:
            if args.output:
                width, height = args.size or (LabelSize.width_mm, LabelSize.height_mm)
                size = LabelSize(width_mm=width, height_mm=height, dpi=args.dpi or LabelSize.dpi)
                written = write_output([label_for(ledger, code) for code in args.ids], Path(args.output), size,
                                       datamatrix=with_matrix)
            else:
                written = print_ids(config, ledger, args.ids, args.printer, datamatrix=with_matrix)
    except (DatabaseUnavailable, LedgerSchemaError, NotFound, PrinterError, LayoutError) as exc:
        print(f"benchpin: label: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    count = len(args.ids)
    print(f"{count} label{'s' if count != 1 else ''} → {', '.join(written)}")
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser(
        "label", help="print the label of a piece, wax tree or operator badge",
        description="Print labels with a Code 128 of each id: a job-bag tag for a piece (PC-…: id,\n"
                    "style, metal and hallmark, order, ring size or chain length), a tree tag (TR-…:\n"
                    "its pieces and metal) or a badge card (OP-…: name, role), optionally with a Data\n"
                    "Matrix beside it. ZPL II for Zebra-type printers over USB, TCP port 9100 or serial;\n"
                    "PDF or PNG for any other.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", metavar="ID", nargs="+",
                        help="a piece (PC-…), wax tree (TR-…) or operator badge (OP-…) id; all are looked up "
                             "before anything prints")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--printer", metavar="NAME",
                       help="the [[labels.printers]] entry to print on (default: the first)")
    where.add_argument("--output", metavar="FILE",
                       help="write FILE.png, FILE.pdf or FILE.zpl instead of printing (PDF and ZPL hold every "
                            "label; several PNGs are named FILE-ID.png)")
    parser.add_argument("--dpi", type=int, choices=(152, 203, 300, 600),
                        help="with --output: the resolution of the printer that will print the file, in dots per "
                             "inch (default 203); the bars are whole dots of it")
    parser.add_argument("--size", type=parse_size, metavar="WxH",
                        help="with --output: the label's width and height in mm (default 57x32, a 2.25x1.25 "
                             "inch job-bag label)")
    parser.add_argument("--datamatrix", action=argparse.BooleanOptionalAction, default=None,
                        help="put a Data Matrix (ECC 200) of the id beside the Code 128 (default: labels.datamatrix "
                             "of the config, off when unset); in ZPL it is the printer's own ^BX")
    add_config_argument(parser)
    parser.set_defaults(func=_label)
