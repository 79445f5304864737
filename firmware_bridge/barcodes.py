"""Workshop barcodes: known prefixes and the optional check character, as pure functions.

Codes are ``PC-…`` (piece), ``TR-…`` (wax tree / casting batch), ``OP-…`` (operator badge)
and ``CMD-…`` (command); the prefixes are configurable. With ``check_digit =
"iso7064-mod37-36"`` the last character of a code is an ISO/IEC 7064 MOD 37,36 check
character over the characters after the prefix, ``-`` separators left out (``PC-2026-0042``
+ check of ``20260042``). MOD 37,36 is the standard's hybrid system for ``0-9A-Z`` with one
check character from the same alphabet; it catches every single wrong character and nearly
every swap of neighbours. Prefixes listed in ``check_digit_exempt`` (``CMD-`` by default:
commands are fixed words) carry no check character. Used by the gateway and the kiosk alike.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIXES = ("PC-", "TR-", "OP-", "CMD-")
CHECK_DIGIT_SCHEMES = ("none", "iso7064-mod37-36")
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUES = {char: value for value, char in enumerate(ALPHABET)}


@dataclass(frozen=True)
class BarcodeRules:
    """What makes a scanned code valid at this site."""

    prefixes: tuple[str, ...] = DEFAULT_PREFIXES
    check_digit: str = "none"  # one of CHECK_DIGIT_SCHEMES
    check_digit_exempt: tuple[str, ...] = ("CMD-",)


@dataclass(frozen=True)
class Validation:
    """The verdict on one code: ``reason`` says what is wrong when ``valid`` is false."""

    valid: bool
    reason: str | None = None
    prefix: str | None = None


def _mod37_36(body: str) -> int:
    product = 36
    for char in body:
        total = (product + _VALUES[char]) % 36 or 36
        product = (total * 2) % 37
    return product


def mod37_36_check(body: str) -> str:
    """Return the ISO/IEC 7064 MOD 37,36 check character of ``body`` (``0-9A-Z`` only)."""
    bad = [c for c in body if c not in _VALUES]
    if bad:
        raise ValueError(f"character {bad[0]!r} cannot carry a MOD 37,36 check (only 0-9 and A-Z)")
    return ALPHABET[(37 - _mod37_36(body)) % 36]


def with_check_digit(code: str, rules: BarcodeRules) -> str:
    """Append the check character ``rules`` asks for (for label printing); ``code`` has a prefix."""
    prefix = _prefix_of(code, rules)
    if prefix is None:
        raise ValueError(f"{code!r} has no known prefix")
    if rules.check_digit == "none" or prefix in rules.check_digit_exempt:
        return code
    return code + mod37_36_check(code[len(prefix):].replace("-", ""))


def _prefix_of(code: str, rules: BarcodeRules) -> str | None:
    matches = [p for p in rules.prefixes if code.startswith(p)]
    return max(matches, key=len) if matches else None


def validate(code: str, rules: BarcodeRules = BarcodeRules()) -> Validation:
    """Check ``code`` against the prefixes and the check-character scheme of ``rules``."""
    if not code:
        return Validation(False, "empty code")
    prefix = _prefix_of(code, rules)
    if prefix is None:
        known = ", ".join(rules.prefixes)
        hint = " (lower case: is Caps Lock on, or the scanner set to lower case?)" \
            if _prefix_of(code.upper(), rules) else ""
        return Validation(False, f"no known prefix (expected one of {known}){hint}")
    rest = code[len(prefix):]
    if not rest:
        return Validation(False, f"nothing after the prefix {prefix}", prefix)
    if rules.check_digit == "none" or prefix in rules.check_digit_exempt:
        return Validation(True, None, prefix)
    body = rest.replace("-", "")
    bad = [c for c in body if c not in _VALUES]
    if bad:
        return Validation(False, f"character {bad[0]!r} not allowed in a code with a check character", prefix)
    if len(body) < 2:
        return Validation(False, "too short to carry a check character", prefix)
    expected = mod37_36_check(body[:-1])
    if body[-1] != expected:
        return Validation(False, f"check character is {body[-1]}, expected {expected} (misread or mistyped code)",
                          prefix)
    return Validation(True, None, prefix)
