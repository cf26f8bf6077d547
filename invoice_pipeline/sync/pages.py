"""What a source client hands the loader: one fetched page, validated document by document."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any


@dataclass
class ValidatedPage:
    """A page as received plus what validation decided about each document in it.

    ``ids[i]`` is the id of ``data[i]`` (None when it has none); ``rejected`` maps an index to
    its sync-log error ``{invoice_id, invoice_number, error}``; ``problems`` are sync-log
    errors about the listing rather than one document (they make the sync PARTIAL too).
    ``volatile[i]`` is the exact JSON text (as DuckDB writes a document: compact) of a member
    that changes without the document changing, left out of the content hash; ``settled[i]``
    the text of the same member where it is content (Billingo: a paid document's
    ``paid_date``), which may equal another document's volatile text. The body is kept as
    bytes so the loader stores documents exactly as received.
    """

    body: bytes
    ids: list[int | None]
    volatile: list[str | None] = field(default_factory=list)
    settled: list[str | None] = field(default_factory=list)
    rejected: dict[int, dict[str, Any]] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None
    last_page: int | None = None
    current_page: int | None = None
    page_key: str | None = None  # which listing page this is, e.g. "page=3&per_page=100"
    # Sources that fetch each document after listing it (BillX): ``listing_hashes[i]`` is the
    # hash of the list entry ``data[i]`` was fetched for, stored with it in raw_documents;
    # ``unchanged`` are listed documents whose entry hash equals the stored one, not
    # fetched (they count as skipped).
    listing_hashes: list[str | None] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    # Part of the fingerprint: which code judged the page (``billingo/client.py``), so a
    # page judged by another version is never taken as unchanged without being parsed
    fingerprint_salt: bytes = b""
    _spans: list[tuple[int, int]] | None = field(default=None, repr=False, compare=False)
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def volatile_spans(self) -> list[tuple[int, int]]:
        """(start, end) of the volatile fragments in the body, in order. Where a fragment's
        text also occurs as content (``settled``: a document paid on the date the unpaid
        ones show), the occurrences are the documents', in the documents' order, when each
        document with that text as its member holds it once (as many occurrences as such
        documents); else that text is left out of the spans (it stays part of the
        fingerprint: the page is compared document by document when the date moves)."""
        if self._spans is None:
            spans: list[tuple[int, int]] = []
            for text in dict.fromkeys(v for v in self.volatile if v):
                fragment = text.encode()
                found = []
                at = self.body.find(fragment)
                while at >= 0:
                    found.append((at, at + len(fragment)))
                    at = self.body.find(fragment, at + len(fragment))
                owners = [  # per document with this text, in order: is it volatile there
                    v == text for v, c in zip_longest(self.volatile, self.settled) if text in (v, c)
                ]
                if len(found) == len(owners):
                    spans += [span for span, own in zip(found, owners, strict=True) if own]
            self._spans = sorted(spans)
        return self._spans

    def fingerprint(self) -> str:
        """SHA-256 of the salt and the body without its volatile spans: equal fingerprints
        of the same ``page_key`` mean the same documents with the same content. (SHA-256
        runs on the CPU's SHA extensions: twice as fast as MD5 here. A missed fingerprint
        only means the page is compared document by document.) Computed once: the fetch
        worker that parsed the page hashes it, off the batch writer's path."""
        if self._fingerprint is None:
            self._fingerprint = stable_digest(
                self.body, self.volatile_spans(), self.fingerprint_salt
            )
        return self._fingerprint

    def drop_body(self) -> None:
        """Free the body of a page that will not be loaded (unchanged since the last sync):
        its fingerprint and spans, all that is remembered of it, are kept (computing the
        fingerprint computes the spans; a remembered page comes with both)."""
        self.fingerprint()
        self.body = b""

    def remembered_as(self, spans: list[tuple[int, int]], fingerprint: str) -> ValidatedPage:
        """This page with the volatile spans and fingerprint a previous sync computed."""
        self._spans, self._fingerprint = spans, fingerprint
        return self


def stable_digest(body: bytes, spans: list[tuple[int, int]], salt: bytes) -> str:
    """SHA-256 of ``salt`` and ``body`` without the (sorted, disjoint) ``spans``.

    The kept parts are joined and hashed in one call (a copy of the page, 0.06 ms): hashlib
    lets go of the GIL for every part over 2 KB, and a fetch worker that lets go of it waits
    to get it back until the other worker's validation of a page (about 4 ms) ends. Hashed
    part by part, a page with 23 volatile spans took 9-19 ms beside a validating thread;
    joined, 5-6.5 (``benchmarks/FINDINGS.md``, the GIL-handoffs session)."""
    view = memoryview(body)
    kept = [salt]
    at = 0
    for start, end in spans:
        kept.append(view[at:start])
        at = end
    kept.append(view[at:])
    return hashlib.sha256(b"".join(kept)).hexdigest()


def format_validation_error(errors: list[dict[str, Any]]) -> str:
    """One short line from pydantic errors of one document: the field path and the reason."""
    union_tags = {
        "decimal", "literal['']", "date", "int", "bool", "str", "none", "list", "dict",
        "constrained-float", "constrained-int",
    }  # fmt: skip
    preferred = [e for e in errors if e.get("type") != "literal_error"] or errors
    first = preferred[0]
    path = ".".join(str(p) for p in first.get("loc", ()) if str(p) not in union_tags)
    return f"{path}: {first.get('msg', 'invalid')}" if path else str(first.get("msg", "invalid"))
