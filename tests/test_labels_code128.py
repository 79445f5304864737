"""The Code 128 encoder: the symbol table, round trips, checksums, set C for digit runs, a real decoder."""

from __future__ import annotations


import pytest
import zxingcpp
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from kiosk.labels.code128 import (CODE_C, PATTERNS, QUIET_MODULES, START_B, START_C, STOP, Code128Error, bars,
                                  checksum, decode_symbols, modules, symbols)

PRINTABLE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40)
CODES = st.from_regex(r"(PC|TR|OP)-[0-9]{2,8}(-[0-9A-Z]{1,6})?[0-9A-Z]?", fullmatch=True)


def test_the_table_has_107_distinct_patterns_of_11_modules_with_even_bars() -> None:
    assert len(PATTERNS) == 107 and len(set(PATTERNS)) == 107
    for value, pattern in enumerate(PATTERNS[:106]):
        widths = [int(w) for w in pattern]
        assert len(widths) == 6 and sum(widths) == 11, value
        assert sum(widths[0::2]) % 2 == 0, f"value {value}: bar modules must be even (Code 128 parity)"
    assert PATTERNS[STOP] == "2331112"


@given(PRINTABLE)
@example("PC-2026-0042")
@example("0")
@example("12")
@example("123")
def test_symbols_read_back_to_the_text(text: str) -> None:
    values = symbols(text)
    assert values[0] in (START_B, START_C) and values[-1] == STOP
    assert values[-2] == checksum(values[:-2])
    assert decode_symbols(values) == text


@given(PRINTABLE)
def test_never_longer_than_set_b_alone(text: str) -> None:
    assert len(symbols(text)) <= len(text) + 3  # start, checksum, stop


@given(st.text(alphabet="0123456789", min_size=2, max_size=30).filter(lambda t: len(t) % 2 == 0))
def test_an_even_run_of_digits_packs_two_per_symbol(digits: str) -> None:
    assert symbols(digits)[0] == START_C
    assert len(symbols(digits)) == len(digits) // 2 + 3


@given(st.text(alphabet="ABCXYZ-", min_size=1, max_size=5), st.text(alphabet="0123456789", min_size=6, max_size=20),
       st.text(alphabet="ABC-", min_size=1, max_size=5))
def test_a_long_run_in_the_middle_switches_to_set_c(head: str, digits: str, tail: str) -> None:
    values = symbols(head + digits + tail)
    assert CODE_C in values[1:-2]
    assert decode_symbols(values) == head + digits + tail


def test_a_short_run_in_the_middle_stays_in_set_b_and_four_at_the_end_go_to_c() -> None:
    body = [START_B] + [ord(c) - 32 for c in "PC-2026-"] + [CODE_C, 0, 42]
    assert symbols("PC-2026-0042") == body + [checksum(body), STOP]


@given(PRINTABLE)
def test_bars_are_11_modules_a_symbol_plus_the_stop_and_quiet_zones(text: str) -> None:
    values = symbols(text)
    flags = bars(text)
    assert len(flags) == 11 * (len(values) - 1) + 13 + 2 * QUIET_MODULES
    assert not any(flags[:QUIET_MODULES]) and not any(flags[-QUIET_MODULES:])
    assert flags[QUIET_MODULES] and flags[-QUIET_MODULES - 1]  # starts and ends with a bar
    assert sum(modules(values)) == len(flags) - 2 * QUIET_MODULES


@pytest.mark.parametrize("text", ["", "PC-0001\n", "PC-é", "\x7f"])
def test_what_set_b_cannot_carry_is_refused(text: str) -> None:
    with pytest.raises(Code128Error):
        symbols(text)


def _draw(text: str, module: int = 3, height: int = 60) -> Image.Image:
    flags = bars(text)
    image = Image.new("L", (len(flags) * module, height), 255)
    for i, bar in enumerate(flags):
        if bar:
            image.paste(0, (i * module, 0, (i + 1) * module, height))
    return image


@settings(max_examples=40, deadline=None)
@given(st.one_of(PRINTABLE, CODES))
@example("PC-2026-00427")
@example("00")
def test_a_real_decoder_reads_the_bars_back(text: str) -> None:
    found = zxingcpp.read_barcodes(_draw(text))
    assert [(r.text, r.format) for r in found] == [(text, zxingcpp.BarcodeFormat.Code128)]
