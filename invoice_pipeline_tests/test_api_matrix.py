"""The API in process (TestClient): auth, the permission matrix, company scoping, paging,
filters, settings writes and bad input, all in the seed's error format."""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from invoice_pipeline import features, queries, users
from invoice_pipeline.api import routes_settings
from invoice_pipeline.api.tokens import REFRESH
from invoice_pipeline_tests.test_api_support import (
    PASSWORD,
    SEED_DETAIL,
    SEED_INVOICE,
    SEED_PAGE,
    SEED_SETTINGS,
    SEED_SYNC,
    SEED_SYNC_LOG,
    World,
    api_world_fixture,  # noqa: F401  (registers the fixture)
    assert_error,
    assert_seed_shape,
)

ROLE_DENIED = "You do not have permission to perform this action."


def _result(status: str) -> dict[str, Any]:
    errors = (
        [] if status == "COMPLETED" else [{"invoice_id": 1, "invoice_number": "X", "error": "e"}]
    )
    return {
        "company_id": 4, "source": "billingo", "status": status, "invoices_processed": 3,
        "invoices_created": 2, "invoices_updated": 1, "invoices_skipped": 0,
        "items_extracted": 5, "api_calls": 1, "duration_seconds": 0.5, "errors": errors,
    }  # fmt: skip


@pytest.fixture
def fake_sync(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """run_sync replaced: the matrix checks who may trigger, not the sync (the server test
    runs the real one). Returns the calls' arguments."""
    calls: list[dict[str, Any]] = []

    def run_sync(wh: Any, *, company_id: int, source: str) -> list[dict[str, Any]]:
        calls.append({"company_id": company_id, "source": source})
        return [_result("COMPLETED")]

    monkeypatch.setattr(routes_settings, "run_sync", run_sync)
    return calls


@pytest.fixture
def flag(api_world: World) -> Iterator[Callable[[int, str, bool], None]]:
    """Set feature flags for one test; every flag it touched is switched back on after."""
    touched: list[tuple[int, str]] = []

    def set_flag(company: int, feature: str, enabled: bool) -> None:
        touched.append((company, feature))
        features.set_feature(api_world.wh, company, feature, enabled)

    yield set_flag
    for company, feature in touched:
        features.set_feature(api_world.wh, company, feature, True)


def _call(world: World, username: str, method: str, path: str, **kwargs: Any) -> Any:
    return world.client.request(method, path, headers=world.auth(username), **kwargs)


def _endpoints(world: World, source: str) -> list[tuple[str, str, bool, dict[str, Any]]]:
    """(method, path, admin only, request kwargs) of every endpoint of a source."""
    invoice = world.docs[4][0]["id"]
    return [
        ("GET", f"/api/{source}-settings/", True, {}),
        ("POST", f"/api/{source}-settings/", True, {"json": {"is_active": True}}),
        ("POST", f"/api/{source}-settings/trigger_sync/", True, {"json": {}}),
        ("GET", f"/api/{source}-invoices/", False, {}),
        ("GET", f"/api/{source}-invoices/{invoice}/", False, {}),
        ("GET", f"/api/{source}-sync-logs/", False, {}),
    ]


@pytest.mark.parametrize("feature_on", [True, False])
def test_permission_matrix_billingo(
    api_world: World, fake_sync: list, flag: Callable, feature_on: bool
) -> None:
    """ADMIN and USER x every endpoint x the flag on and off: role first, then the flag."""
    flag(4, "BILLINGO_SYNC", feature_on)
    for method, path, admin_only, kwargs in _endpoints(api_world, "billingo"):
        for username, role in (("admin4", "ADMIN"), ("user4", "USER")):
            response = _call(api_world, username, method, path, **kwargs)
            where = (username, method, path, response.text)
            if admin_only and role == "USER":
                body = assert_error(response, 403, "permission_denied")
                assert body["detail"] == ROLE_DENIED, where
            elif not feature_on:
                body = assert_error(response, 403, "feature_not_enabled")
                assert body["detail"] == "BILLINGO_SYNC feature is not enabled for your company"
            else:
                assert response.status_code == 200, where
    # Another company's flag is its own: company 7 is not affected.
    assert _call(api_world, "admin7", "GET", "/api/billingo-invoices/").status_code == 200
    assert len(fake_sync) == (1 if feature_on else 0)


def test_billx_routes_answer_without_a_billx_sync(api_world: World, flag: Callable) -> None:
    """BillX has no sync in this tree yet: auth, the BILLX_SYNC flag and empty lists work."""
    for method, path, _admin, kwargs in _endpoints(api_world, "billx"):
        if method == "GET" and "-invoices/" in path and path.count("/") > 3:
            assert_error(_call(api_world, "user4", method, path), 404, "not_found")
            continue
        if method == "POST":
            continue
        response = _call(api_world, "admin4", method, path, **kwargs)
        assert response.status_code == 200, response.text
        assert response.json()["count"] == 0 and response.json()["results"] == []
        assert_error(api_world.client.request(method, path), 401, "not_authenticated")
    flag(4, "BILLX_SYNC", False)
    body = assert_error(_call(api_world, "user4", "GET", "/api/billx-invoices/"), 403,
                        "feature_not_enabled")  # fmt: skip
    assert body["detail"] == "BILLX_SYNC feature is not enabled for your company"
    assert _call(api_world, "user4", "GET", "/api/billingo-invoices/").status_code == 200
    not_configured = _call(api_world, "admin5", "POST", "/api/billx-settings/trigger_sync/")
    assert_error(not_configured, 404, "not_found")


def test_companies_are_scoped_by_the_token(api_world: World) -> None:
    other = api_world.docs[7][0]["id"]
    own = api_world.docs[4][0]["id"]
    # Another company's invoice is "not found", exactly like a missing one.
    hidden = _call(api_world, "admin4", "GET", f"/api/billingo-invoices/{other}/")
    missing = _call(api_world, "admin4", "GET", "/api/billingo-invoices/424242/")
    assert_error(hidden, 404, "not_found")
    assert hidden.json() == missing.json() == {"detail": "Not found.", "code": "not_found"}
    assert _call(api_world, "admin7", "GET", f"/api/billingo-invoices/{other}/").status_code == 200
    for username, company, count in (("admin4", 4, 40), ("admin7", 7, 25), ("admin9", 9, 0)):
        page = _call(api_world, username, "GET", "/api/billingo-invoices/?page_size=1000").json()
        assert page["count"] == count and {r["company"] for r in page["results"]} <= {company}
        logs = _call(api_world, username, "GET", "/api/billingo-sync-logs/").json()
        assert {r["company"] for r in logs["results"]} <= {company}
    assert _call(api_world, "admin4", "GET", f"/api/billingo-invoices/{own}/").status_code == 200


def test_login_refresh_and_bad_tokens(api_world: World) -> None:
    client = api_world.client
    ok = client.post("/api/auth/login/", json={"username": "user4", "password": PASSWORD})
    assert ok.status_code == 200
    body = ok.json()
    assert body["user"] == {"username": "user4", "role": "USER", "company": 4}
    assert f'"access":"{body["access"]}"' in ok.text  # the seed's grep finds it
    assert PASSWORD not in ok.text and "argon2" not in ok.text
    me = {"Authorization": f"Bearer {body['access']}"}
    assert client.get("/api/billingo-invoices/", headers=me).status_code == 200
    refreshed = client.post("/api/auth/refresh/", json={"refresh": body["refresh"]})
    assert refreshed.status_code == 200
    again = {"Authorization": f"Bearer {refreshed.json()['access']}"}
    assert client.get("/api/billingo-sync-logs/", headers=again).status_code == 200

    for credentials in ({"username": "user4", "password": "wrong password"},
                        {"username": "nobody", "password": PASSWORD}):  # fmt: skip
        denied = client.post("/api/auth/login/", json=credentials)
        assert_error(denied, 401, "authentication_failed")
        assert denied.headers["www-authenticate"].startswith("Bearer")
    assert_error(client.post("/api/auth/login/", json={"username": "user4"}), 400, "invalid",
                 "password")  # fmt: skip
    assert_error(client.post("/api/auth/refresh/", json={"refresh": body["access"]}), 401,
                 "token_not_valid")  # fmt: skip

    now = int(time.time())
    secret = api_world.signer.secret
    claims = {"sub": "admin4", "token_type": "access", "iat": now, "exp": now + 60}
    admin4 = users.get_user("admin4", api_world.wh.path)
    assert admin4 is not None
    bad = {
        "expired": jwt.encode({**claims, "iat": now - 120, "exp": now - 60}, secret),
        "forged": jwt.encode(claims, "another secret that is long enough......"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "refresh as access": api_world.signer.issue(admin4, REFRESH),
        "garbage": "not.a.token",
    }
    bearer = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
    for name, token in bad.items():
        response = client.get("/api/billingo-invoices/", headers=bearer(token))
        assert assert_error(response, 401, "token_not_valid"), name
    expired = client.get("/api/billingo-invoices/", headers=bearer(bad["expired"]))
    assert "expired" in expired.json()["detail"]
    ghost = client.get(
        "/api/billingo-invoices/", headers=bearer(jwt.encode({**claims, "sub": "ghost"}, secret))
    )
    assert_error(ghost, 401, "authentication_failed")
    for header in ({}, {"Authorization": "Basic dXNlcjQ6eA=="}, {"Authorization": ""}):
        response = client.get("/api/billingo-invoices/", headers=header)
        assert_error(response, 401, "not_authenticated")
    for value in ("Bearer", "Bearer a b"):
        response = client.get("/api/billingo-invoices/", headers={"Authorization": value})
        assert_error(response, 401, "token_not_valid")


def test_pages_keep_every_filter_and_match_the_query_module(api_world: World) -> None:
    url = "/api/billingo-invoices/?page_size=7&search=-&invoice_date_from=2000-01-01"
    first = _call(api_world, "user4", "GET", url).json()
    assert_seed_shape(first, {**SEED_PAGE, "results": [SEED_INVOICE]})
    assert first["count"] == 40 and first["previous"] is None
    assert first["next"] == (
        "http://testserver/api/billingo-invoices/?page_size=7&search=-"
        "&invoice_date_from=2000-01-01&page=2"
    )
    seen, page, pages = [], first, 1
    while page["next"]:
        page = _call(api_world, "user4", "GET", page["next"]).json()
        pages += 1
        seen += [r["id"] for r in page["results"]]
        if pages == 2:
            assert page["previous"] == (
                "http://testserver/api/billingo-invoices/?page_size=7&search=-"
                "&invoice_date_from=2000-01-01"
            )
    assert pages == 6 and len(seen) + 7 == 40
    assert {r["id"] for r in first["results"]} | set(seen) == {d["id"] for d in api_world.docs[4]}
    beyond = _call(api_world, "user4", "GET", url + "&page=7")
    assert assert_error(beyond, 404, "not_found")["detail"] == "Invalid page."

    row = first["results"][5]
    filters = {
        "payment_status": "paid",
        "partner_tax_number": row["partner_tax_number"],
        "invoice_date_from": row["invoice_date"],
        "invoice_date_to": row["invoice_date"],
        "search": row["invoice_number"][-3:].lower(),
    }
    for name, value in filters.items():
        api = _call(api_world, "user4", "GET", "/api/billingo-invoices/", params={name: value})
        expected = queries.list_invoices(4, source="billingo", db_path=api_world.wh.path,
                                         **{name: value})  # fmt: skip
        assert api.status_code == 200, api.text
        assert api.json()["results"] == expected.model_dump(mode="json")["results"], name
        assert api.json()["count"] == expected.count
    blank = _call(api_world, "user4", "GET", "/api/billingo-invoices/?payment_status=")
    assert blank.json()["count"] == 40  # an empty filter is no filter


def test_detail_and_sync_logs_have_the_seed_shapes(api_world: World) -> None:
    doc = api_world.docs[4][3]
    detail = _call(api_world, "user4", "GET", f"/api/billingo-invoices/{doc['id']}/").json()
    assert_seed_shape(detail, SEED_DETAIL)
    assert len(detail["items"]) == len(doc["items"]) == detail["item_count"]
    logs = _call(api_world, "user4", "GET", "/api/billingo-sync-logs/?status=COMPLETED").json()
    assert_seed_shape(logs, {**SEED_PAGE, "results": [SEED_SYNC_LOG]})
    assert logs["count"] == 1 and logs["results"][0]["status_display"] == "Befejezve"
    none = _call(api_world, "user4", "GET", "/api/billingo-sync-logs/?sync_type=AUTOMATIC")
    assert none.json()["count"] == 0
    settings = _call(api_world, "admin4", "GET", "/api/billingo-settings/").json()
    assert_seed_shape(settings, {**SEED_PAGE, "results": [SEED_SETTINGS]})
    assert settings["results"][0]["has_api_key"] is True
    assert "api_key" not in settings["results"][0] and "key-four" not in str(settings)


BAD_PARAMETERS = [
    ("/api/billingo-invoices/?page=0", "page"),
    ("/api/billingo-invoices/?page=x", "page"),
    ("/api/billingo-invoices/?page=99999999999999999999999", "page"),
    ("/api/billingo-invoices/?page_size=5000", "page_size"),
    ("/api/billingo-invoices/?page_size=-1", "page_size"),
    ("/api/billingo-invoices/?invoice_date_from=2025-13-01", "invoice_date_from"),
    ("/api/billingo-invoices/?invoice_date_to=yesterday", "invoice_date_to"),
    ("/api/billingo-invoices/?invoice_date_from=2025-02-01&invoice_date_to=2025-01-01",
     "invoice_date_from"),
    ("/api/billingo-invoices/?payment_status=nonsense", "payment_status"),
    ("/api/billingo-invoices/?search=" + "x" * 201, "search"),
    ("/api/billingo-invoices/?search=a%00b", "search"),
    ("/api/billingo-invoices/abc/", "id"),
    ("/api/billingo-invoices/0/", "id"),
    ("/api/billingo-sync-logs/?status=DONE", "status"),
    ("/api/billingo-sync-logs/?sync_type=manual", "sync_type"),
    ("/api/billingo-sync-logs/?page_size=0", "page_size"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "field"), BAD_PARAMETERS)
def test_bad_parameters_are_400_naming_the_field(api_world: World, url: str, field: str) -> None:
    assert_error(_call(api_world, "user4", "GET", url), 400, "invalid", field)


def test_settings_create_update_and_the_company_name(api_world: World) -> None:
    post = lambda body, source="billingo": _call(  # noqa: E731
        api_world, "admin9", "POST", f"/api/{source}-settings/", json=body
    )
    assert _call(api_world, "admin9", "GET", "/api/billingo-settings/").json() == SEED_PAGE | {
        "count": 0
    }
    key = str(uuid.uuid4())
    assert_error(post({"api_key_input": key, "is_active": True}), 400, "invalid", "company_name")
    assert_error(post({"company_name": "Kilenc Kft."}), 400, "invalid", "api_key_input")
    assert_error(post({"api_key_input": "  ", "company_name": "K"}), 400, "invalid",
                 "api_key_input")  # fmt: skip
    assert_error(post({"api_key_input": key, "company_name": "K", "api_key": "x"}), 400,
                 "invalid", "api_key")  # fmt: skip
    assert_error(post({"api_key_input": key, "company_name": "K", "is_active": "maybe"}), 400,
                 "invalid", "is_active")  # fmt: skip
    created = post({"api_key_input": key, "is_active": True, "company_name": "Kilenc Kft."})
    assert created.status_code == 201, created.text
    assert_seed_shape(created.json(), SEED_SETTINGS)
    assert created.json()["has_api_key"] is True and created.json()["last_sync_time"] is None
    updated = post({"is_active": False})
    assert updated.status_code == 200 and updated.json()["is_active"] is False
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["company_name"] == "Kilenc Kft."
    other = post({"api_key_input": "billx-key-123"}, source="billx")  # the name is known now
    assert other.status_code == 201 and other.json()["company_name"] == "Kilenc Kft."
    for response in (created, updated, other):
        assert key not in response.text and "billx-key-123" not in response.text
    listed = _call(api_world, "admin9", "GET", "/api/billingo-settings/").json()
    assert listed["count"] == 1 and listed["results"][0] == updated.json()
    # Inactive settings: trigger_sync does not run a sync and says why, in the sync body.
    refused = _call(api_world, "admin9", "POST", "/api/billingo-settings/trigger_sync/", json={})
    assert refused.status_code == 400
    assert_seed_shape(refused.json(), SEED_SYNC)
    assert refused.json()["status"] == "error"
    assert "no active billingo settings" in refused.json()["errors"][0]["error"]


@pytest.mark.parametrize(
    ("status", "code"), [("COMPLETED", 200), ("PARTIAL", 400), ("FAILED", 400)]
)
def test_trigger_sync_maps_the_result(
    api_world: World, monkeypatch: pytest.MonkeyPatch, status: str, code: int
) -> None:
    calls = []

    def run_sync(wh: Any, *, company_id: int, source: str) -> list[dict[str, Any]]:
        calls.append((wh.path, company_id, source))
        return [_result(status)]

    monkeypatch.setattr(routes_settings, "run_sync", run_sync)
    response = _call(api_world, "admin4", "POST", "/api/billingo-settings/trigger_sync/", json={})
    assert response.status_code == code
    assert_seed_shape(response.json(), SEED_SYNC)
    assert response.json()["status"] == ("success" if code == 200 else "error")
    assert response.json()["sync_status"] == status
    assert calls == [(api_world.wh.path, 4, "billingo")]


def test_unknown_routes_and_methods_use_the_error_format(api_world: World) -> None:
    assert_error(api_world.client.get("/api/nothing/"), 404, "not_found")
    assert_error(_call(api_world, "admin4", "DELETE", "/api/billingo-settings/"), 405,
                 "method_not_allowed")  # fmt: skip
    headers = {**api_world.auth("admin4"), "Content-Type": "application/json"}
    broken = api_world.client.post("/api/billingo-settings/", content=b"{not", headers=headers)
    assert_error(broken, 400, "invalid", "body")
    login = api_world.client.post("/api/auth/login/", content=b"[1,2]",
                                  headers={"Content-Type": "application/json"})  # fmt: skip
    assert_error(login, 400, "invalid")


def test_reads_never_wait_for_a_writer_and_writes_give_up_with_503(
    api_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a sync holds the writer lock, reads are answered from the snapshot at once and
    a settings write waits WRITE_TIMEOUT_S, then answers 503 in the error format."""
    monkeypatch.setattr(routes_settings, "WRITE_TIMEOUT_S", 0.3)
    with api_world.wh.session() as session, session.transaction():  # as a sync batch does
        started = time.monotonic()
        for path in ("/api/billingo-invoices/", "/api/billingo-sync-logs/"):
            assert _call(api_world, "user4", "GET", path).status_code == 200
        login = api_world.client.post(
            "/api/auth/login/", json={"username": "user4", "password": PASSWORD}
        )
        assert login.status_code == 200
        assert time.monotonic() - started < 5
        busy = _call(api_world, "admin4", "POST", "/api/billingo-settings/", json={})
        body = assert_error(busy, 503, "warehouse_busy")
        assert busy.headers["retry-after"] and "busy" in body["detail"]
