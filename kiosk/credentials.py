"""Secret files named by the kiosk's config: the API token and the session key."""

from __future__ import annotations

from pathlib import Path

from benchpin.config import ConfigError


def read_secret_file(key: str, path: str, *, what: str, min_length: int) -> str:
    """Read a secret from the file a config ``key`` names; ConfigError naming the key if unusable."""
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError([f"{key}: cannot read {path}: {exc.strerror or exc}"]) from exc
    if len(secret) < min_length:
        raise ConfigError([f"{key}: the {what} in {path} is shorter than {min_length} characters"])
    return secret


def read_api_token(path: str) -> str:
    """Read the bearer token file; '' when no file is configured (the API then refuses all)."""
    if not path:
        return ""
    return read_secret_file("kiosk.api_token_file", path, what="token", min_length=16)
