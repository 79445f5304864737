"""The packaged default routes (``default.toml``); a workshop may point ``kiosk.routes_file`` elsewhere."""

from pathlib import Path

DEFAULT_ROUTES_FILE = Path(__file__).with_name("default.toml")
