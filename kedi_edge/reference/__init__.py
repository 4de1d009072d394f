"""Plain numpy twins of the native kernels: same names, signatures and errors.

They are the oracle the tests hold the native module to, and readable definitions of
what each kernel computes. They are slow; use the functions in :mod:`kedi_edge`.
"""

from .xor import xor_into
from .zigzag import unzigzag, xor_unzigzag, zigzag, zigzag_order, zigzag_xor

__all__ = ["unzigzag", "xor_into", "xor_unzigzag", "zigzag", "zigzag_order", "zigzag_xor"]
