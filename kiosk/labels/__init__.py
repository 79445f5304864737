"""Labels: job-bag tags for pieces, tree tags and badge cards, with a Code 128 of the id.

:mod:`~kiosk.labels.content` says what a label carries (read from the ledger),
:mod:`~kiosk.labels.layout` where it goes, :mod:`~kiosk.labels.render` draws it as ZPL II,
PNG or PDF and :mod:`~kiosk.labels.printers` sends it to a label printer over USB, TCP port
9100 or a serial port. ``benchpin label`` is in :mod:`kiosk.labels.cli`.
"""

from kiosk.labels.content import BADGE, PIECE, TREE, Label, badge_label, piece_label, tree_label
from kiosk.labels.layout import LabelSize, Layout, LayoutError, layout
from kiosk.labels.render import to_pdf, to_png, to_zpl

__all__ = ["BADGE", "PIECE", "TREE", "Label", "LabelSize", "Layout", "LayoutError", "badge_label", "layout",
           "piece_label", "to_pdf", "to_png", "to_zpl", "tree_label"]
