"""The piece ledger: pieces, wax trees, operators, stage events and serial numbers.

The public API is :class:`Ledger` (read its docstring) and the records and errors below.
"""

from kiosk.ledger.db import DatabaseUnavailable
from kiosk.ledger.imports import parse_pieces_csv
from kiosk.ledger.ledger import Ledger
from kiosk.ledger.migrations import LedgerSchemaError, LedgerTooNew
from kiosk.ledger.model import (ADVANCE, LASER, REWORK, ROLES, SCRAP, SCRAPPED, DuplicateOperator,
                                Event, ImportRejected, LaserJob, LedgerError, MoveOption, MoveRefused, NotFound,
                                Operator, Piece, PieceSpec, StageBlock, TimeRow, Tree, WipStage, WorkSession)
from kiosk.ledger.workflow import Route, Stage, Workflow, WorkflowError, load_workflow

__all__ = ["ADVANCE", "DatabaseUnavailable", "LASER", "REWORK", "ROLES", "SCRAP", "SCRAPPED", "DuplicateOperator",
           "Event", "ImportRejected", "LaserJob", "Ledger", "LedgerError", "LedgerSchemaError", "LedgerTooNew",
           "MoveOption", "MoveRefused", "NotFound", "Operator", "Piece", "PieceSpec", "Route", "Stage",
           "StageBlock", "TimeRow", "Tree", "WipStage", "WorkSession", "Workflow", "WorkflowError", "load_workflow", "parse_pieces_csv"]
