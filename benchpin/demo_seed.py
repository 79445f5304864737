"""The demo workshop's people and pieces: both routes, a wax tree, enamel, a bespoke ring."""

from __future__ import annotations

import logging

from benchpin.config import KioskConfig

log = logging.getLogger(__name__)

OPERATORS = [  # badge, name, role, the language of the screens while badged in ("" = kiosk.language)
    ("OP-0001", "Asha Verma", "artisan", ""),
    ("OP-0002", "Ravi Menon", "setter", ""),
    ("OP-0003", "Meera Iyer", "qc", ""),
    ("OP-0004", "Kiran Shah", "engraver", ""),
    ("OP-0005", "Priya Nair", "supervisor", ""),
    ("OP-0006", "Sunita Devi", "artisan", "hi"),
    ("OP-0007", "Somchai Dee", "setter", "th"),
]

PIECES_CSV = """\
piece_id,route,style,order_id,metal,ring_size,chain_length_cm,metal_colour,stone_type,stone_colour,stone_shape,enamel,tree_id
PC-0001,production,Molten Wave Stacking Ring,SO-1001,silver_925,N,,silver,,,,no,TR-0001
PC-0002,production,Molten Wave Stacking Ring,SO-1001,silver_925,P,,silver,,,,no,TR-0001
PC-0003,production,Savi Sculptural Droplet Pendant,SO-1002,vermeil_18ct,,45,yellow,,,,no,TR-0001
PC-0004,production,Savi Asymmetric Snake Chain Bracelet,SO-1003,vermeil_18ct,,18,yellow,,,,no,TR-0001
PC-0005,production,Jelly Heart Gemstone Hoop Earrings,SO-1004,gold_plated_brass,,,yellow,,,,yes,
PC-0006,production,North Star Pearl Necklace,SO-1005,gold_plated_brass,,42,yellow,pearl,white,baroque,no,
PC-0007,bespoke,Custom Engagement Ring,BC-2001,gold_18ct,M,,white,emerald,green,oval,no,
PC-0008,bespoke,Heirloom Signet Ring,BC-2002,platinum_950,Q,,white,,,,no,
"""

# Where each piece waits when the demo starts: how many times it has been advanced.
ADVANCES = {
    "PC-0001": 4,  # on wax tree TR-0001, at casting
    "PC-0002": 4,
    "PC-0003": 4,
    "PC-0004": 4,
    "PC-0005": 7,  # the enamel piece, at plating (enamel comes next)
    "PC-0006": 7,  # at plating: the next advance is engraving, which fires the laser
    "PC-0007": 11,  # the bespoke ring, at inspection: the next advance is engraving
    "PC-0008": 0,  # a bespoke ring still at consultation
}
SETUP_OPERATOR = "OP-0005"


def seed_demo_ledger(kiosk: KioskConfig) -> None:
    """Fill an empty demo ledger with operators and pieces placed along their routes."""
    from kiosk.ledger import Ledger, parse_pieces_csv
    from kiosk.ledger.checks import passing_answers

    with Ledger.from_config(kiosk) as ledger:
        if ledger.operators():
            return  # seeded before (a demo restarted in the same directory)
        for operator_id, name, role, language in OPERATORS:
            ledger.add_operator(operator_id, name, role, language=language)
        ledger.import_pieces(parse_pieces_csv(PIECES_CSV.encode(), ledger.workflow), station="demo-setup",
                             operator=SETUP_OPERATOR)
        for piece_id, count in ADVANCES.items():
            for _ in range(count):
                piece = ledger.piece(piece_id)
                stage = ledger.workflow.route(piece.route).stage(piece.stage)
                ledger.advance(piece_id, operator=SETUP_OPERATOR, station="demo-setup",
                               note="placed by the demo", checks=passing_answers(stage.checks, piece))
        log.info("seeded the demo ledger: %d operators, %d pieces", len(OPERATORS), len(ADVANCES))
