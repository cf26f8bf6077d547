"""What a source client hands the loader: one fetched page, validated document by document."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ValidatedPage:
    """A page as received plus what validation decided about each document in it.

    ``ids[i]`` is the id of ``data[i]`` (None when it has none); ``rejected`` maps an index to
    its sync-log error ``{invoice_id, invoice_number, error}``; ``problems`` are sync-log
    errors about the listing rather than one document (they make the sync PARTIAL too).
    ``volatile[i]`` is the exact JSON text (as DuckDB writes a document: compact) of a member
    that changes without the document changing, left out of the content hash. The body is
    kept as bytes so the loader stores documents exactly as received.
    """

    body: bytes
    ids: list[int | None]
    volatile: list[str | None] = field(default_factory=list)
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
    # SHA-256 of the body exactly as received (and of the validation that judged it): a
    # page whose bytes equal the last sync's need not be parsed again (``page_memory``)
    body_hash: str | None = None
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def fingerprint(self) -> str:
        """SHA-256 of the body without its volatile fragments: equal fingerprints of the
        same ``page_key`` mean the same documents with the same content. (SHA-256 runs on
        the CPU's SHA extensions: twice as fast as MD5 here. Fingerprints stored by MD5
        only miss once, and a missed fingerprint only means the page is compared document
        by document.) Computed once: the extraction loop hashes each page as it arrives,
        off the batch writer's path."""
        if self._fingerprint is None:
            stable = self.body
            for fragment in {v for v in self.volatile if v}:
                stable = stable.replace(fragment.encode(), b"")
            self._fingerprint = hashlib.sha256(stable).hexdigest()
        return self._fingerprint


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
