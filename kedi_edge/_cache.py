"""A small LRU cache of read-only arrays, bounded by their total size in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np


class ArrayCache:
    """Keeps the most recently used arrays whose sizes add up to at most ``max_bytes``.

    Arrays are made read-only when cached, so no caller can corrupt a shared entry.
    An array larger than ``max_bytes`` is returned but not kept.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        value = make()
        value.flags.writeable = False
        if value.nbytes > self.max_bytes:
            return value
        with self._lock:
            if key not in self._entries:
                self._entries[key] = value
                self._bytes += value.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self._bytes -= old.nbytes
            return self._entries.get(key, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes
