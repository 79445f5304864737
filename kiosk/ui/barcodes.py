"""What a scanned code is: piece, tree, operator badge or command.

The site's ``[barcodes]`` rules (prefixes, check character) are checked by
:func:`firmware_bridge.barcodes.validate`, the same check the gateway applies to its scanners;
this module adds what the kiosk needs on top: which kind of thing the code names, and whether
a ``CMD-`` code is a command the screens know.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.barcodes import BarcodeRules, validate

PIECE, TREE, OPERATOR, COMMAND = "piece", "tree", "operator", "command"
KINDS = {"PC-": PIECE, "TR-": TREE, "OP-": OPERATOR, "CMD-": COMMAND}
ADVANCE, REWORK, SCRAP, LOGOUT = "CMD-ADVANCE", "CMD-REWORK", "CMD-SCRAP", "CMD-LOGOUT"
COMMANDS = (ADVANCE, REWORK, SCRAP, LOGOUT)
MAX_LENGTH = 64


@dataclass(frozen=True)
class Barcode:
    """A scanned code: its ``kind`` when usable, else ``problem`` says what is wrong."""

    code: str
    kind: str = ""
    problem: str = ""


def read_barcode(raw: str, rules: BarcodeRules = BarcodeRules()) -> Barcode:
    """Classify a scanned code by its prefix, or say why it cannot be used."""
    code = raw.strip()
    if len(code) > MAX_LENGTH:
        return Barcode(code[:MAX_LENGTH], problem=f"too long for a workshop code ({len(code)} characters)")
    if code and (not code.isprintable() or any(c.isspace() for c in code)):
        return Barcode(code, problem="contains spaces or control characters (a misread?)")
    verdict = validate(code, rules)
    if not verdict.valid:
        return Barcode(code, problem=verdict.reason or "not a valid code")
    kind = KINDS.get(verdict.prefix or "")
    if kind is None:
        return Barcode(code, problem=f"a {verdict.prefix} code means nothing to the kiosk "
                                     f"(it knows {', '.join(KINDS)})")
    if kind == COMMAND and code not in COMMANDS:
        return Barcode(code, problem=f"unknown command (known: {', '.join(COMMANDS)})")
    return Barcode(code, kind)
