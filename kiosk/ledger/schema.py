"""The ledger's tables as version 1 created them, portable between SQLite and PostgreSQL.

Later versions are steps in :mod:`kiosk.ledger.migrations`, which also records the version.
"""

from __future__ import annotations

# enamel is an INTEGER 0/1 (portable); timestamps are RFC 3339 UTC text. events.published
# is set once a move is in the kiosk's MQTT outbox, so a crash in between is repaired at start. The UNIQUE
# constraints are the guarantees: a serial is never given twice, and two moves of one piece
# can never both claim the same version.
VERSION_1 = (
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS operators (
        operator_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS trees (tree_id TEXT PRIMARY KEY, created TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS pieces (
        piece_id TEXT PRIMARY KEY,
        route TEXT NOT NULL,
        stage TEXT NOT NULL,
        version INTEGER NOT NULL,
        style TEXT NOT NULL DEFAULT '',
        order_id TEXT NOT NULL DEFAULT '',
        metal TEXT NOT NULL DEFAULT '',
        ring_size TEXT NOT NULL DEFAULT '',
        chain_length_cm DOUBLE PRECISION,
        metal_colour TEXT NOT NULL DEFAULT '',
        stone_type TEXT NOT NULL DEFAULT '',
        stone_colour TEXT NOT NULL DEFAULT '',
        stone_shape TEXT NOT NULL DEFAULT '',
        enamel INTEGER NOT NULL DEFAULT 0,
        tree_id TEXT REFERENCES trees (tree_id),
        serial TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        CONSTRAINT pieces_serial_unique UNIQUE (serial))""",
    """CREATE INDEX IF NOT EXISTS pieces_stage ON pieces (stage)""",
    """CREATE INDEX IF NOT EXISTS pieces_tree ON pieces (tree_id)""",
    """CREATE TABLE IF NOT EXISTS events (
        event_id TEXT PRIMARY KEY,
        piece_id TEXT NOT NULL REFERENCES pieces (piece_id),
        version INTEGER NOT NULL,
        from_stage TEXT,
        to_stage TEXT NOT NULL,
        kind TEXT NOT NULL,
        station TEXT NOT NULL,
        operator TEXT NOT NULL,
        ts TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        published INTEGER NOT NULL DEFAULT 0,
        CONSTRAINT events_piece_version_unique UNIQUE (piece_id, version))""",
    """CREATE INDEX IF NOT EXISTS events_unpublished ON events (published, station)""",
    """CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)""",
    """INSERT INTO counters (name, value) VALUES ('serial', 0) ON CONFLICT (name) DO NOTHING""",
)

PIECE_COLUMNS = ("piece_id", "route", "stage", "version", "style", "order_id", "metal", "ring_size",
                 "chain_length_cm", "metal_colour", "stone_type", "stone_colour", "stone_shape",
                 "enamel", "tree_id", "serial", "created", "updated")
EVENT_COLUMNS = ("event_id", "piece_id", "version", "from_stage", "to_stage", "kind", "station",
                 "operator", "ts", "note", "override")

