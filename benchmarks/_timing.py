"""Timing shared by the benchmark scripts (the package's own helper)."""

from kedi_edge._timing import median_seconds

__all__ = ["median_seconds"]
