"""benchpin: shop-floor software of a jewelry workshop."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("benchpin")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
