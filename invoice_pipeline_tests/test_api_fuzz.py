"""Property-based fuzzing of the OpenAPI schema (schemathesis): valid and invalid requests
to every operation, as an ADMIN of a synced company. No 500s; every status code, content
type and body is the one the schema declares; invalid input is rejected with a 4xx."""

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from invoice_pipeline.api import routes_settings
from invoice_pipeline_tests.test_api_support import (
    World,
    api_world_fixture,  # noqa: F401  (registers the fixture)
)

# Per operation and mode. POSTs hash a password (argon2) or write and publish a snapshot:
# fewer of them keep the test short.
EXAMPLES = {"GET": 15, "POST": 8}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fake_sync(wh: Any, *, company_id: int, source: str) -> list[dict[str, Any]]:
    """trigger_sync's input is only ``{}``: the fuzz is about the API, not about syncing."""
    return [
        {
            "company_id": company_id, "source": source, "status": "COMPLETED",
            "invoices_processed": 0, "invoices_created": 0, "invoices_updated": 0,
            "invoices_skipped": 0, "items_extracted": 0, "api_calls": 1,
            "duration_seconds": 0.1, "errors": [],
        }
    ]  # fmt: skip


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    headers: dict[str, str],
    seen: dict[int, int],
) -> None:
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])

    @settings(
        max_examples=EXAMPLES[operation.method.upper()],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        sent = dict(case.headers or {})
        if mode == GenerationMode.POSITIVE or "Authorization" in sent:
            sent.update(headers)  # a negative case that dropped the header keeps it dropped
        response = case.call(headers=sent)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=checks)

    run()


def test_no_request_makes_the_api_fail(api_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_settings, "run_sync", _fake_sync)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 2 + 2 * 6  # auth, and six per source
    seen: dict[int, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, api_world.auth("admin7"), seen)
    assert 500 not in seen
    assert seen.get(200, 0) > 0 and seen.get(400, 0) > 0, seen
