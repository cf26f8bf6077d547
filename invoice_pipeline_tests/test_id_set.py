"""``IdSet``, the crawl's compact set of seen ids, against Python's set."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_pipeline.sync import id_set
from invoice_pipeline.sync.id_set import IdSet
from invoice_pipeline.sync.page_table import id_table

ids = st.integers(min_value=-(2**63), max_value=2**63 - 1)
pages = st.lists(st.lists(st.one_of(st.none(), ids, st.integers(0, 30)), max_size=12))


@settings(max_examples=200, deadline=None)
@given(pages=pages, merge_at=st.integers(1, 8))
def test_known_and_update_agree_with_a_python_set(
    pages: list[list[int | None]], merge_at: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(id_set, "MERGE_AT", merge_at)  # merges every few ids, and pending ones
        seen, expected = IdSet(), set[int]()
        for page in pages:
            assert seen.known(page) == [i is not None and i in expected for i in page]
            new = {i for i in page if i is not None}
            seen.update(new)
            expected |= new
        assert len(seen) == len(expected)
        assert list(seen) == sorted(expected)
        other = IdSet(range(25, 40))
        seen.update(other)
        assert list(seen) == sorted(expected | set(range(25, 40)))
        assert id_table(seen).column("document_id").to_pylist() == list(seen)


def test_an_empty_set_knows_nothing_and_makes_an_empty_table() -> None:
    empty = IdSet()
    assert not empty and len(empty) == 0 and 0 not in empty
    assert empty.known([0, None, -1]) == [False, False, False]
    assert id_table(empty).num_rows == 0


@settings(max_examples=200, deadline=None)
@given(pages=pages, merge_at=st.integers(1, 8), data=st.data())
def test_add_new_marks_first_sightings_and_adds_only_them(
    pages: list[list[int | None]], merge_at: int, data: st.DataObject
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(id_set, "MERGE_AT", merge_at)
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
