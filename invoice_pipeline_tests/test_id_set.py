"""``IdSet``, the crawl's compact set of seen ids, against Python's set."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_pipeline.sync.id_set import IdSet

ids = st.integers(min_value=-(2**63), max_value=2**63 - 1)
pages = st.lists(st.lists(st.one_of(st.none(), ids, st.integers(0, 30)), max_size=12))


@settings(max_examples=200, deadline=None)
@given(pages=pages, probe=st.lists(ids | st.integers(-3, 45), max_size=20))
def test_known_and_update_agree_with_a_python_set(
    pages: list[list[int | None]], probe: list[int]
) -> None:
    seen, expected = IdSet(), set[int]()
    for page in pages:
        assert [i in seen for i in page] == [i is not None and i in expected for i in page]
        new = {i for i in page if i is not None}
        seen.update(new)
        expected |= new
    assert len(seen) == len(expected)
    assert list(seen) == sorted(expected)
    assert [seen.nth(rank) for rank in range(len(seen))] == sorted(expected)
    other = IdSet(range(25, 40))
    seen.update(other)
    held = expected | set(range(25, 40))
    assert list(seen) == sorted(held)
    assert all((i in seen) == (i in held) for i in probe)
    # one lookup of many values, as deletion detection's ranges: alone, among the members,
    # and each of the extremes with the others (the members between them are unpacked)
    for values in (probe, [*probe, *expected], [-(2**63), *probe], [*probe, 2**63 - 1]):
        array = np.array(values, dtype=np.int64)
        assert seen.holds(array).tolist() == [i in held for i in values]


def test_an_empty_set_knows_nothing() -> None:
    empty = IdSet()
    assert not empty and len(empty) == 0 and 0 not in empty
    assert [i in empty for i in (0, None, -1)] == [False, False, False]
    assert empty.holds(np.array([0, -1], dtype=np.int64)).tolist() == [False, False]


@settings(max_examples=200, deadline=None)
@given(pages=pages, data=st.data())
def test_add_new_marks_first_sightings_and_adds_only_them(
    pages: list[list[int | None]], data: st.DataObject
) -> None:
    seen, expected = IdSet(), set[int]()
    for page in pages:
        passed = data.draw(st.sets(st.integers(0, max(len(page) - 1, 0))))
        wanted = []
        for index, i in enumerate(page):
            first = i is not None and i not in expected and index not in passed
            if first:
                expected.add(i)  # type: ignore[arg-type]
            wanted.append(first)
        assert seen.add_new(page, passed_over=passed) == wanted
    assert list(seen) == sorted(expected)
