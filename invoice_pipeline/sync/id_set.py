"""The document ids a crawl has seen, in a roaring bitmap: about 2 bytes an id.

A Python set of ints costs about 60 bytes per id (its table and the int objects): 30 MB of
a 500,000-document sync. A sorted int64 array, merged with the new ids every few thousand,
took 8 bytes an id, a copy of the array at every merge (33 MB at the peak for 2,000,000
ids) and 3.5 s of the crawl's main thread for those ids. A roaring bitmap (pyroaring's
``BitMap64``) holds Billingo's ids (a few dozen apart: every company's documents share one
sequence) at 2 bytes each, 4 MB for 2,000,000, and adds them in 0.5 s.

The bitmap holds unsigned 64-bit integers; an id is stored as ``id + 2**63``, which keeps
the order of every int64 (a rejected document's id may be negative).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence, Set

import numpy as np
from pyroaring import BitMap64

_OFFSET = 1 << 63
_SIGN = np.uint64(_OFFSET)


class IdSet(Set[int]):
    """A set of int64 ids that only grows."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._bits = BitMap64()
        self.update(ids)

    def holds(self, values: np.ndarray) -> np.ndarray:
        """For each of the int64 ``values``: it is in the set. Only the members between the
        smallest and the largest value are unpacked (a range of deletion detection's)."""
        if not len(values) or not self._bits:
            return np.zeros(len(values), dtype=bool)
        wanted = _unsigned(values)
        low, high = int(wanted.min()), int(wanted.max())
        first = self._bits.rank(low - 1) if low else 0  # members below ``low``
        members = np.frombuffer(
            self._bits[first : self._bits.rank(high)].to_array(), dtype=np.uint64
        )
        if not len(members):
            return np.zeros(len(values), dtype=bool)
        at = np.minimum(np.searchsorted(members, wanted), len(members) - 1)
        return members[at] == wanted

    def add_new(self, ids: Sequence[int | None], passed_over: Container[int] = ()) -> list[bool]:
        """For each of ``ids``: it is new (not None, not in the set, not earlier in ``ids``)
        and its index is not ``passed_over``; the new ones are added."""
        bits = self._bits
        new = []
        for index, doc_id in enumerate(ids):
            is_new = not (doc_id is None or index in passed_over or doc_id + _OFFSET in bits)
            if is_new:
                bits.add(doc_id + _OFFSET)  # type: ignore[operator]
            new.append(is_new)
        return new

    def update(self, ids: Iterable[int]) -> None:
        if isinstance(ids, IdSet):
            self._bits |= ids._bits
        else:
            self._bits.update(i + _OFFSET for i in ids)

    def nth(self, rank: int) -> int:
        """The ``rank``-th smallest id (from 0)."""
        return self._bits[rank] - _OFFSET

    def __len__(self) -> int:
        return len(self._bits)

    def __iter__(self) -> Iterator[int]:
        return (i - _OFFSET for i in self._bits)

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, int) and doc_id + _OFFSET in self._bits


def _unsigned(values: np.ndarray) -> np.ndarray:
    """int64 ``values`` as the bitmap holds them (``+ 2**63``, as uint64)."""
    return values.astype(np.int64, copy=False).view(np.uint64) ^ _SIGN
