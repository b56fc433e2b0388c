"""mlmon: real-time quality monitoring of a deployed ML model."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlmon")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
