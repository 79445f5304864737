"""Barcode validation and the ISO/IEC 7064 MOD 37,36 check character."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.barcodes import (ALPHABET, BarcodeRules, Validation, mod37_36_check, validate,
                                      with_check_digit)

CHECKED = BarcodeRules(check_digit="iso7064-mod37-36")
bodies = st.text(alphabet=ALPHABET, min_size=1, max_size=20)


@pytest.mark.parametrize("body, check", [("A12425GABC1234002", "M"), ("A", "H"), ("0", "2"), ("XYZ123", "I")])
def test_mod37_36_check_matches_published_vectors(body, check):
    assert mod37_36_check(body) == check


@pytest.mark.parametrize("code", ["PC-000123", "TR-2026-11", "OP-0007", "CMD-ADVANCE"])
def test_validate_accepts_known_prefixes(code):
    assert validate(code) == Validation(True, None, code.split("-")[0] + "-")


@pytest.mark.parametrize("code, reason", [
    ("XX-1", "no known prefix (expected one of PC-, TR-, OP-, CMD-)"),
    ("pc-1", "Caps Lock"),
    ("PC-", "nothing after the prefix PC-"),
    ("", "empty code"),
])
def test_validate_explains_rejections(code, reason):
    verdict = validate(code)
    assert not verdict.valid and reason in (verdict.reason or "")


def test_validate_with_configured_prefixes_only():
    rules = BarcodeRules(prefixes=("RING-",))
    assert validate("RING-7", rules).valid and not validate("PC-7", rules).valid


def test_validate_check_digit_exempts_commands_and_names_expected_character():
    assert validate("CMD-SCRAP", CHECKED).valid
    good = with_check_digit("PC-2026-0042", CHECKED)
    assert validate(good, CHECKED).valid
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    verdict = validate(bad, CHECKED)
    assert not verdict.valid and f"expected {good[-1]}" in (verdict.reason or "")
    assert "not allowed" in (validate("PC-ab1", CHECKED).reason or "")


@given(bodies)
def test_mod37_36_round_trip_is_valid(body):
    assert validate(with_check_digit(f"PC-{body}", CHECKED), CHECKED).valid


@given(bodies, st.data())
def test_mod37_36_catches_every_single_substitution(body, data):
    code = body + mod37_36_check(body)
    i = data.draw(st.integers(0, len(code) - 1))
    wrong = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != code[i]))
    assert not validate(f"TR-{code[:i]}{wrong}{code[i + 1:]}", CHECKED).valid


@given(st.text(max_size=60))
def test_validate_fuzz_always_gives_a_verdict_with_reason_when_invalid(code):
    for rules in (BarcodeRules(), CHECKED):
        verdict = validate(code, rules)
        assert verdict.valid or verdict.reason
