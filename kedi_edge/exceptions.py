"""Exception types of kedi_edge.

Misuse of the array building blocks (wrong dtype, shape or layout) raises the built-in
``TypeError``/``ValueError``; failures of files, keys and sealed data raise a
:class:`KediError` subclass.
"""

__all__ = ["KediError"]


class KediError(Exception):
    """Base class of every error kedi_edge raises about files, keys and sealed data."""
