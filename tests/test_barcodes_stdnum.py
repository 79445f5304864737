"""The MOD 37,36 check character against python-stdnum's ISO 7064 and a frozen sample.

firmware_bridge may import only the stdlib and the device libraries, so it keeps its own
implementation; python-stdnum (a test dependency) is the independent oracle it must match.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.iso7064 import mod_37_36

from firmware_bridge.barcodes import ALPHABET, BarcodeRules, mod37_36_check, validate, with_check_digit

# Check characters computed by the implementation before the comparison, frozen: a change to
# either side that alters any existing label's check character fails here.
FROZEN = {
    "": "1", "0": "2", "Z": "4", "20260042": "0", "2026000001": "Z", "A12425GABC1234002": "M",
    "000000": "R", "ZZZZZZZZ": "Q", "BP2026000042": "O", "0007": "2", "T1": "U",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789": "0", "LMNMJN4HCV9": "9", "B": "F", "06W3IKQWC": "I",
    "7YUYRFP1Z7LTDT3": "K", "H7AR70": "S", "XEVVXXOLBUILZ": "E", "0BF": "4", "4FHWXIZGFWRD": "9",
    "NGNKK": "W", "0SI5": "X", "DAFMZQW": "H", "D0D4KDWEFDBZD": "X", "FSPX9K38EZ5Q2HI0": "Y",
    "IH2": "2", "O9661IP": "Z", "H7QW40F1": "T", "A9FE6V5XHUHN": "Q", "LMI9L27FWKLR": "E",
    "DICJNCH": "X", "5MD": "T", "N": "S", "XXLADYKQNCCEWO": "Q", "713WH": "E", "C8VGTCKK6UX": "I",
    "ED9Q26QT": "Z", "TGR3ZZ0X9EP7PN9Q": "G", "RW": "B", "55NRIHMIQIKMW": "5", "WT3WGC5DQKD8TUPN": "4",
    "8": "L", "7HR3": "4", "L82X4J12YIXF": "1", "RS": "J", "9QW7FYS3WRV7V": "Y", "9N": "R",
}
CHECKED = BarcodeRules(check_digit="iso7064-mod37-36")


@pytest.mark.parametrize("body, check", sorted(FROZEN.items()))
def test_check_character_matches_the_frozen_sample_and_stdnum(body: str, check: str) -> None:
    assert mod37_36_check(body) == check
    assert mod_37_36.calc_check_digit(body) == check


@given(st.text(alphabet=ALPHABET, max_size=40))
def test_check_character_equals_stdnum_for_any_body(body: str) -> None:
    assert mod37_36_check(body) == mod_37_36.calc_check_digit(body)


@given(st.text(alphabet=ALPHABET + "-", min_size=1, max_size=20).filter(lambda s: s.strip("-")))
def test_a_labelled_code_passes_stdnum_validation(rest: str) -> None:
    code = with_check_digit(f"PC-{rest}", CHECKED)
    assert validate(code, CHECKED).valid
    assert mod_37_36.is_valid(code[3:].replace("-", ""))
