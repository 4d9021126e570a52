"""reproml: reproducible Python machine-learning projects that work on the first try."""

__version__ = "0.1.0"
