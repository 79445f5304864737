"""Supervisor PINs: 4–8 digits, kept as a salted scrypt hash (stdlib only), checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PIN_MIN, PIN_MAX = 4, 8
# scrypt with 16 MiB of memory per check: a stolen ledger makes each guess costly, yet a
# Raspberry Pi still checks a PIN in well under a second.
_N, _R, _P = 2 ** 14, 8, 1
_SCHEME = "scrypt"


def pin_problem(pin: str) -> str:
    """Say what is wrong with a PIN ('' when it is 4 to 8 digits)."""
    if not (PIN_MIN <= len(pin) <= PIN_MAX) or not pin.isascii() or not pin.isdigit():
        return f"a PIN is {PIN_MIN} to {PIN_MAX} digits (0–9)"
    return ""


def hash_pin(pin: str) -> str:
    """Return ``scrypt$N$r$p$salt$hash`` for a valid PIN (ValueError otherwise)."""
    if problem := pin_problem(pin):
        raise ValueError(problem)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"{_SCHEME}${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str | None) -> bool:
    """Say whether ``pin`` is the one ``stored`` was made from (False for no or a bad hash)."""
    if not stored or pin_problem(pin):  # a malformed PIN is never hashed: no work for junk
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        computed = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                  dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)
