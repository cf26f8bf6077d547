"""The document ids a crawl has seen, at about 8 bytes each.

A Python set of ints costs about 60 bytes per id (its table and the int objects): 30 MB of
a 500,000-document sync, growing with the account. Here ids wait in a small set and are
merged, ``MERGE_AT`` at a time, into one sorted int64 array; a page's ids are looked up in
it together (``numpy.searchsorted``).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence, Set

import numpy as np

# Ids added since the last merge: a merge copies the sorted array once (4 MB at 500,000 ids).
MERGE_AT = 16384


class IdSet(Set[int]):
    """A set of int64 ids that only grows."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._sorted = np.empty(0, dtype=np.int64)
        self._pending: set[int] = set()
        self.update(ids)

    def known(self, ids: Sequence[int | None]) -> list[bool]:
        """For each of ``ids``: it is in the set (None never is)."""
        values = np.fromiter((0 if i is None else i for i in ids), np.int64, len(ids))
        found = _in_sorted(self._sorted, values).tolist()
        pending = self._pending
        return [i is not None and (hit or i in pending) for i, hit in zip(ids, found, strict=True)]

    def holds(self, values: np.ndarray) -> np.ndarray:
        """For each of the int64 ``values``: it is in the set (one lookup for all)."""
        return _in_sorted(self.array(), values)

    def add_new(self, ids: Sequence[int | None], passed_over: Container[int] = ()) -> list[bool]:
        """For each of ``ids``: it is new (not None, not in the set, not earlier in ``ids``)
        and its index is not ``passed_over``; the new ones are added."""
        fresh: set[int] = set()
        new = []
        for index, (doc_id, known) in enumerate(zip(ids, self.known(ids), strict=True)):
            is_new = not (doc_id is None or known or doc_id in fresh or index in passed_over)
            if is_new:
                fresh.add(doc_id)  # type: ignore[arg-type]
            new.append(is_new)
        self.update(fresh)
        return new

    def update(self, ids: Iterable[int]) -> None:
        if isinstance(ids, IdSet):
            self._merge()
            self._insert(ids.array())
            return
        self._pending.update(ids)
        if len(self._pending) >= MERGE_AT:
            self._merge()

    def array(self) -> np.ndarray:
        """Every id, sorted (a view: do not change it)."""
        self._merge()
        return self._sorted

    def __len__(self) -> int:
        return len(self.array())

    def __iter__(self) -> Iterator[int]:
        return iter(self.array().tolist())

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, int) and self.known([doc_id])[0]

    def _merge(self) -> None:
        if not self._pending:
            return
        new = np.fromiter(self._pending, np.int64, len(self._pending))
        new.sort()
        self._insert(new)
        self._pending.clear()

    def _insert(self, new: np.ndarray) -> None:
        """Insert the sorted, distinct ids ``new`` (np.union1d would do, but it imports
        numpy.ma on first use: 6 ms of a sync process, 40 ms before numpy is imported)."""
        new = new[~_in_sorted(self._sorted, new)]
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)


def _in_sorted(haystack: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which ``values`` the sorted ``haystack`` holds."""
    if not len(haystack):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(haystack, values), len(haystack) - 1)
    return haystack[at] == values
