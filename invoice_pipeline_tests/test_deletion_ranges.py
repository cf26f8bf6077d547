"""Deletion marks, read and compared a range of ids at a time, against Python's sets."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_pipeline.sync import deletions
from invoice_pipeline.sync.id_set import IdSet
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline.warehouse.limits import SCAN_MEMORY
from invoice_pipeline_tests.warehouse_checks import per_document

ids = st.integers(0, 60) | st.sampled_from([-(2**63), -1, 2**63 - 1])  # dense, and the ends


def _store(wh: Warehouse, stored: set[int], marked: set[int], other: set[int]) -> None:
    """Raw documents and invoices of company 4 (``marked`` ones marked), and ``other``
    stored unmarked for company 5, which no call about company 4 may touch."""
    rows = [(4, i, i in marked) for i in stored] + [(5, i, False) for i in other]
    with wh.write() as con:
        con.execute("DELETE FROM raw_documents")
        con.execute("DELETE FROM invoices")
        for company, doc_id, is_marked in rows:
            mark = "TIMESTAMPTZ '2026-01-01 00:00:00+00'" if is_marked else "NULL"
            con.execute(
                "INSERT INTO raw_documents (source, company_id, document_id, payload, "
                "content_hash, first_seen_at, last_changed_at, deleted_at) "
                f"VALUES ('billingo', ?, ?, '{{}}', 'h', now(), now(), {mark})",
                [company, doc_id],
            )
            con.execute(
                "INSERT INTO invoices (source, company_id, invoice_id, item_count, content_hash, "
                f"first_seen_at, last_changed_at, deleted_at) "
                f"VALUES ('billingo', ?, ?, 0, 'h', now(), now(), {mark})",
                [company, doc_id],
            )


def _marks(wh: Warehouse) -> tuple[dict[tuple[int, int], bool], dict[tuple[int, int], bool]]:
    """(company, id) -> marked, of raw documents and of invoices."""
    raw, inv = per_document(wh, "deleted_at")
    differ = [key for key, mark in inv.items() if key in raw and raw[key] != mark]
    assert differ == []  # the same mark, to the microsecond
    return (
        {key: mark is not None for key, (mark,) in raw.items()},
        {key: mark is not None for key, (mark,) in inv.items()},
    )


@settings(max_examples=60, deadline=None)
@given(
    stored=st.sets(ids, max_size=30),
    listed=st.sets(ids, max_size=30),
    marked_share=st.integers(0, 3),
    other=st.sets(ids, max_size=5),
    range_ids=st.integers(1, 4),
)
def test_restore_then_mark_agree_with_python_sets(
    stored: set[int], listed: set[int], marked_share: int, other: set[int], range_ids: int
) -> None:
    marked = {i for n, i in enumerate(sorted(stored)) if marked_share and n % 4 < marked_share}
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(deletions, "RANGE_IDS", range_ids)  # many ranges, cut at listed ids
        wh = Warehouse(Path(tmp) / "w.duckdb")
        _store(wh, stored, marked, other)
        with wh.write(memory_limit=SCAN_MEMORY) as con:
            restored = deletions.restore_listed(con, "billingo", 4, IdSet(listed))
            newly = deletions.mark_unseen(con, "billingo", 4, IdSet(listed))
        raw, inv = _marks(wh)
    still_marked = marked - listed
    assert restored == len(marked & listed)
    assert newly == len((stored - marked) - listed)
    want = {(4, i): i in still_marked or i not in listed for i in stored}
    want |= {(5, i): False for i in other}
    assert raw == want
    assert inv == want
