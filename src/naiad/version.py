"""naiad's version: one constant, importable from every layer without importing the SDK."""

__version__ = "0.1.0"
