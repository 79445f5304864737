"""What a scanned code is: piece, tree, operator badge or command (pure, no Flask).

The prefixes are the contract's defaults (``PC-``, ``TR-``, ``OP-``, ``CMD-``). A scan that
arrives over MQTT was already checked by the gateway; its verdict (``valid``/``reason``) is
shown as it is, and this check covers what a keyboard-wedge scanner types into the page.
"""

from __future__ import annotations

from dataclasses import dataclass

PIECE, TREE, OPERATOR, COMMAND = "piece", "tree", "operator", "command"
PREFIXES = {"PC-": PIECE, "TR-": TREE, "OP-": OPERATOR, "CMD-": COMMAND}
ADVANCE, REWORK, SCRAP, LOGOUT = "CMD-ADVANCE", "CMD-REWORK", "CMD-SCRAP", "CMD-LOGOUT"
COMMANDS = (ADVANCE, REWORK, SCRAP, LOGOUT)
MAX_LENGTH = 64


@dataclass(frozen=True)
class Barcode:
    """A scanned code: its ``kind`` when usable, else ``problem`` says what is wrong."""

    code: str
    kind: str = ""
    problem: str = ""


def read_barcode(raw: str) -> Barcode:
    """Classify a scanned code by its prefix, or say why it cannot be used."""
    code = raw.strip()
    if not code:
        return Barcode(code, problem="empty scan")
    if len(code) > MAX_LENGTH:
        return Barcode(code[:MAX_LENGTH], problem=f"too long for a workshop code ({len(code)} characters)")
    if not code.isprintable() or any(c.isspace() for c in code):
        return Barcode(code, problem="contains spaces or control characters (a misread?)")
    for prefix, kind in PREFIXES.items():
        if code.startswith(prefix):
            if code == prefix:
                return Barcode(code, problem=f"nothing after the prefix {prefix}")
            if kind == COMMAND and code not in COMMANDS:
                return Barcode(code, problem=f"unknown command (known: {', '.join(COMMANDS)})")
            return Barcode(code, kind)
    hint = ""
    if any(code.upper().startswith(prefix) for prefix in PREFIXES):
        hint = " (lower case: is Caps Lock on, or the scanner set to lower case?)"
    return Barcode(code, problem=f"not a workshop code: expected {', '.join(PREFIXES)}{hint}")
