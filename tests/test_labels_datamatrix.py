"""The Data Matrix encoder: published vectors, symbol sizes, finder and timing, and a real decoder.

The vectors: ISO/IEC 16022 Annex R ("123456" in 10x10), and the ECC 200 encoder tests of zxing
(ASCII encodation of "30Q324343430794<OQQ", "A" with its two pads, "AIMAIM" in 14x14 and the
module placement of its 12x12 mapping matrix, the generator polynomial of 5 codewords).
"""

from __future__ import annotations

import pytest
import zxingcpp
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from kiosk.labels.datamatrix import (QUIET_MODULES, SIZES, DataMatrixError, Matrix, SymbolSize, codewords,
                                     error_correction, generator, mapping_matrix, modules, padded, symbol_codewords,
                                     symbol_for)

ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), min_size=1, max_size=40)
CODES = st.from_regex(r"(PC|TR|OP)-[0-9]{2,8}(-[0-9A-Z]{1,6})?[0-9A-Z]?", fullmatch=True)

AIMAIM = [66, 74, 78, 66, 74, 78, 129, 56, 35, 102, 192, 96, 226, 100, 156, 1, 107, 221]
AIMAIM_PLACED = ("011100001111", "001010101000", "010001010100", "001010100010", "000111000100", "011000010100",
                 "000100001101", "011000010000", "001100001101", "100010010111", "011101011010", "001011001010")


def test_123456_is_the_iso_annex_r_example() -> None:
    size, words = symbol_codewords("123456")
    assert size.size == 10
    assert words == [142, 164, 186, 114, 25, 5, 88, 102]


def test_ascii_encodation_packs_digit_pairs() -> None:
    assert codewords("30Q324343430794<OQQ") == [160, 82, 162, 173, 173, 173, 137, 224, 61, 80, 82, 82]
    assert codewords("1") == [50] and codewords("123") == [142, 52]


def test_a_character_above_127_goes_after_the_upper_shift() -> None:
    assert codewords("é") == [235, 0xE9 - 127]


def test_pads_are_129_then_randomised_by_position() -> None:
    assert symbol_codewords("A")[1] == [66, 129, 70, 138, 234, 82, 82, 95]
    assert padded([66, 74, 78, 66, 74, 78], 8) == [66, 74, 78, 66, 74, 78, 129, 56]
    assert padded([1, 2, 3], 3) == [1, 2, 3]


def test_aimaim_fills_a_14x14_symbol_with_its_reed_solomon_codewords() -> None:
    size, words = symbol_codewords("AIMAIM")
    assert (size.size, size.mapping) == (14, 12)
    assert words == AIMAIM


def test_the_generator_polynomial_of_five_codewords() -> None:
    assert generator(5) == (1, 62, 111, 15, 48, 228)


def test_reed_solomon_of_nothing_but_zeros_is_zeros() -> None:
    assert error_correction([0] * 12, 12) == [0] * 12


def test_the_utah_placement_of_a_12x12_mapping_matrix() -> None:
    placed = mapping_matrix(symbol_for(8), AIMAIM)
    assert ["".join("1" if dark else "0" for dark in row) for row in placed] == list(AIMAIM_PLACED)


@pytest.mark.parametrize("size", SIZES, ids=[f"{s.size}x{s.size}" for s in SIZES])
def test_the_smallest_symbol_that_holds_the_codewords_is_chosen(size: SymbolSize) -> None:
    assert symbol_for(size.data) == size
    bigger = SIZES.index(size) + 1
    if bigger < len(SIZES):
        assert symbol_for(size.data + 1) == SIZES[bigger]
    else:
        with pytest.raises(DataMatrixError):
            symbol_for(size.data + 1)


def _filling(size: SymbolSize) -> str:
    """A text of exactly ``size.data`` codewords: letters, then one digit pair when that fits."""
    return ("PC" * size.data)[:size.data - 1] + "42"


@pytest.mark.parametrize("size", SIZES, ids=[f"{s.size}x{s.size}" for s in SIZES])
def test_every_size_has_its_finder_and_timing_edges_around_each_region(size: SymbolSize) -> None:
    text = _filling(size)
    assert len(codewords(text)) == size.data
    matrix = modules(text)
    assert len(matrix) == size.size and all(len(row) == size.size for row in matrix)
    block = size.region + 2
    for start in range(0, size.size, block):
        end = start + block - 1
        for i in range(size.size):
            assert matrix[i][start], f"left edge of the region at column {start}, row {i}"
            assert matrix[end][i], f"bottom edge of the region at row {end}, column {i}"
            assert matrix[start][i] == (i % block % 2 == 0), f"top timing at row {start}, column {i}"
            assert matrix[i][end] == (i % block % 2 == 1), f"right timing at column {end}, row {i}"


def draw(matrix: Matrix, module: int = 4, quiet: int = QUIET_MODULES) -> Image.Image:
    side = len(matrix) + 2 * quiet
    image = Image.new("L", (side * module, side * module), 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                image.paste(0, ((x + quiet) * module, (y + quiet) * module,
                                (x + quiet + 1) * module, (y + quiet + 1) * module))
    return image


def read_back(matrix: Matrix) -> list[bytes]:
    """Return what a real decoder reads from ``matrix``: the bytes of each Data Matrix found."""
    return [r.bytes for r in zxingcpp.read_barcodes(draw(matrix)) if r.format == zxingcpp.BarcodeFormat.DataMatrix]


@pytest.mark.parametrize("size", SIZES, ids=[f"{s.size}x{s.size}" for s in SIZES])
def test_a_real_decoder_reads_every_size_back(size: SymbolSize) -> None:
    text = _filling(size)
    assert read_back(modules(text)) == [text.encode("ascii")]


@settings(max_examples=60, deadline=None)
@given(st.one_of(ASCII, CODES))
@example("PC-2026-00427")
@example("PC-A12425GABC1234002M")
@example("0")
@example("~_^,\\")
def test_a_real_decoder_reads_random_ascii_back(text: str) -> None:
    matrix = modules(text)
    assert len(matrix) == symbol_for(len(codewords(text))).size <= 26
    assert read_back(matrix) == [text.encode("ascii")]


@pytest.mark.parametrize("text, problem", [("", "nothing to encode"), ("PC-€", "outside ISO 8859-1"),
                                           ("X" * 175, "more than the largest symbol")])
def test_what_the_encoder_cannot_carry_is_refused_with_why(text: str, problem: str) -> None:
    with pytest.raises(DataMatrixError, match=problem):
        modules(text)
