"""Who the schedules, the CLI and the sync step may sync (``sync/eligibility.py``), the
partitions sensor, and the per-company schedule switches in the CLI and the HTTP API."""

import json
import secrets
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from invoice_pipeline import features, settings_store, users
from invoice_pipeline.api.app import create_app
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.orchestration.partition_sensor import company_partitions
from invoice_pipeline.orchestration.schedules import frequent_sync, nightly_sync
from invoice_pipeline.orchestration.source_assets import sync_run_config
from invoice_pipeline.partitions import SYNC_TYPE_TAG, companies
from invoice_pipeline.resources import WarehouseResource
from invoice_pipeline.sync import eligibility
from invoice_pipeline.warehouse import Warehouse, schema, snapshot
from invoice_pipeline_tests.helpers import configure, scalar, sync
from invoice_pipeline_tests.test_api_support import TestClient
from invoice_pipeline_tests.test_cli import cli, configure_company, one_line_error

BUDAPEST = ZoneInfo("Europe/Budapest")
WAREHOUSE_ASSETS = ["invoices", "invoice_items", "sync_logs"]


def _settings(wh: Warehouse, company_id: int, source: str = "billingo", **switches: bool) -> None:
    settings_store.upsert(
        wh, company_id=company_id, source=source, company_name=f"C{company_id} Kft.",
        api_key=f"key-{company_id}-{source}", **switches,
    )  # fmt: skip


@pytest.fixture
def mixed(wh: Warehouse) -> Warehouse:
    """1901 plain (nightly only, the defaults); 1902 inactive; 1903 with BILLINGO_SYNC off;
    1904 nightly off, frequent on; 1905 billingo (frequent on) and billx whose flag is off;
    1906 billingo and billx, both frequent; 1907 frequent on but BILLINGO_SYNC off."""
    _settings(wh, 1901)
    _settings(wh, 1902, is_active=False, frequent_sync=True)
    _settings(wh, 1903, frequent_sync=True)
    features.set_feature(wh, 1903, "BILLINGO_SYNC", False)
    _settings(wh, 1904, nightly_sync=False, frequent_sync=True)
    _settings(wh, 1905, frequent_sync=True)
    _settings(wh, 1905, "billx", frequent_sync=True)
    features.set_feature(wh, 1905, "BILLX_SYNC", False)
    _settings(wh, 1906, frequent_sync=True)
    _settings(wh, 1906, "billx", frequent_sync=True)
    _settings(wh, 1907, frequent_sync=True)
    features.set_feature(wh, 1907, "BILLINGO_SYNC", False)
    features.set_feature(wh, 1907, "BILLX_SYNC", True)  # set, but for a source it lacks
    return wh


def _evaluate(
    schedule: dg.ScheduleDefinition, wh: Warehouse, instance: dg.DagsterInstance, hour: int
) -> list[dg.RunRequest]:
    # As a context manager: it tears down what it set up (Dagster keeps the instance's state
    # storage in a context variable, which would otherwise outlive this evaluation).
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(2026, 11, 23, hour, tzinfo=BUDAPEST),
        resources={"warehouse": WarehouseResource(db_path=str(wh.path))},
    ) as context:
        requests = schedule(context)
    assert isinstance(requests, list), requests
    return requests


def _selected(request: dg.RunRequest) -> list[str]:
    return [key.to_user_string() for key in request.asset_selection or []]


def test_nightly_requests_only_eligible_companies_and_sources(
    mixed: Warehouse, dagster_instance: dg.DagsterInstance
) -> None:
    requests = _evaluate(nightly_sync, mixed, dagster_instance, 2)
    by_company = {r.partition_key: r for r in requests}
    assert list(by_company) == ["1901", "1905", "1906"]
    assert _selected(by_company["1901"]) == ["billingo_documents", *WAREHOUSE_ASSETS]
    assert _selected(by_company["1905"]) == ["billingo_documents", *WAREHOUSE_ASSETS]
    assert _selected(by_company["1906"]) == [
        "billingo_documents", "billx_documents", *WAREHOUSE_ASSETS,
    ]  # fmt: skip
    assert all(r.tags[SYNC_TYPE_TAG] == "AUTOMATIC" for r in requests)
    assert [r.run_key for r in requests] == [
        "2026-11-23T02:00:1901", "2026-11-23T02:00:1905", "2026-11-23T02:00:1906",
    ]  # fmt: skip
    assert by_company["1906"].run_config == sync_run_config("full", ["billingo", "billx"])
    partitions = set(dagster_instance.get_dynamic_partitions(companies.name))
    assert {"1901", "1905", "1906"} <= partitions
    assert not {"1902", "1903", "1904", "1907"} & partitions


def test_frequent_requests_incremental_runs_of_companies_that_switched_it_on(
    mixed: Warehouse, dagster_instance: dg.DagsterInstance
) -> None:
    requests = _evaluate(frequent_sync, mixed, dagster_instance, 12)
    by_company = {r.partition_key: r for r in requests}
    assert list(by_company) == ["1904", "1905", "1906"]
    assert by_company["1905"].run_config == sync_run_config("incremental", ["billingo"])
    assert by_company["1906"].run_config == sync_run_config("incremental", ["billingo", "billx"])
    assert _selected(by_company["1904"]) == ["billingo_documents", *WAREHOUSE_ASSETS]
    assert all(r.tags[SYNC_TYPE_TAG] == "AUTOMATIC" for r in requests)
    assert all(r.run_key and r.run_key.startswith("2026-11-23T12:00:") for r in requests)


def test_schedules_skip_when_no_company_is_eligible(
    wh: Warehouse, dagster_instance: dg.DagsterInstance
) -> None:
    _settings(wh, 921, nightly_sync=False)  # frequent is off by default
    for schedule in (nightly_sync, frequent_sync):
        with dg.build_schedule_context(
            instance=dagster_instance,
            resources={"warehouse": WarehouseResource(db_path=str(wh.path))},
        ) as context:
            skipped = schedule(context)
        assert isinstance(skipped, dg.SkipReason), skipped
        assert f"with {schedule.name} on" in (skipped.skip_message or "")


def test_a_switch_change_is_seen_by_the_next_tick(
    mixed: Warehouse, dagster_instance: dg.DagsterInstance
) -> None:
    features.set_feature(mixed, 1903, "BILLINGO_SYNC", True)
    _settings(mixed, 1906, nightly_sync=False)
    _settings(mixed, 1905, "billx", nightly_sync=False)  # its flag is off anyway
    requests = _evaluate(nightly_sync, mixed, dagster_instance, 2)
    assert {r.partition_key: _selected(r)[0] for r in requests} == {
        "1901": "billingo_documents", "1903": "billingo_documents",
        "1905": "billingo_documents", "1906": "billx_documents",  # 1906's billingo is off
    }  # fmt: skip
    assert eligibility.targets(mixed, schedule="nightly_sync") == {
        1901: ["billingo"], 1903: ["billingo"], 1905: ["billingo"], 1906: ["billx"],
    }  # fmt: skip


def test_partitions_sensor_adds_every_company_with_settings(
    wh: Warehouse, dagster_instance: dg.DagsterInstance
) -> None:
    resources = {"warehouse": WarehouseResource(db_path=str(wh.path))}
    with dg.build_sensor_context(instance=dagster_instance, resources=resources) as context:
        assert isinstance(company_partitions(context), dg.SkipReason)  # no warehouse yet
        _settings(wh, 931, is_active=False)  # inactive companies are partitions too
        _settings(wh, 932, "billx")
        result = company_partitions(context)
        assert isinstance(result, dg.SensorResult)
        [request] = result.dynamic_partitions_requests or []
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        assert (request.partitions_def_name, list(request.partition_keys)) == (
            "companies", ["931", "932"],
        )  # fmt: skip
        dagster_instance.add_dynamic_partitions("companies", ["931"])  # as a schedule would
        _settings(wh, 933)
        [request] = company_partitions(context).dynamic_partitions_requests or []
        assert list(request.partition_keys) == ["932", "933"]
        dagster_instance.add_dynamic_partitions("companies", ["932", "933"])
        assert isinstance(company_partitions(context), dg.SkipReason)


def test_the_sync_step_never_syncs_a_company_whose_feature_is_off(
    wh: Warehouse, emulator: BillingoEmulator, api_key: str, dagster_instance: dg.DagsterInstance
) -> None:
    """The defensive check in the sync step: a run started anyway (say, queued before the
    flag was switched off) opens no sync log and calls no API."""
    configure(wh, emulator, api_key, company_id=941, docs=30)
    features.set_feature(wh, 941, "BILLINGO_SYNC", False)
    result, synced = sync(wh, dagster_instance, company_id=941)
    assert result.success and synced == {}
    assert emulator.request_count(api_key) == 0
    assert scalar(wh, "SELECT count(*) FROM sync_logs WHERE company_id = 941") == 0
    features.set_feature(wh, 941, "BILLINGO_SYNC", True)
    assert sync(wh, dagster_instance, company_id=941)[1]["invoices_created"] == 30


def test_cli_refuses_a_company_whose_feature_is_off(
    emulator: BillingoEmulator, api_key: str
) -> None:
    emulator.add_account(api_key, docs=10, seed=2)
    configure_company(emulator, api_key)
    off = cli("features", "set", "--company", "4", "BILLINGO_SYNC", "off")
    assert off.returncode == 0, off.stderr
    refused = cli("sync", "--company", "4")
    assert refused.returncode == 2
    assert one_line_error(refused) == (
        "error: nothing may be synced: company 4: its BILLINGO_SYNC feature is switched off"
    )
    assert emulator.request_count(api_key) == 0
    everyone = cli("sync")  # all companies: the same rule
    assert everyone.returncode == 2 and "BILLINGO_SYNC" in one_line_error(everyone)


def test_cli_switches_round_trip_without_showing_the_key(api_key: str) -> None:
    created = cli(
        "settings", "set", "--company", "4", "--name", "Négy Kft.", "--api-key-stdin",
        "--no-nightly-sync", "--frequent-sync", stdin=api_key,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "nightly_sync=false frequent_sync=true" in created.stdout
    [row] = json.loads(cli("settings", "list", "--json").stdout)
    assert (row["nightly_sync"], row["frequent_sync"], row["is_active"]) == (False, True, True)
    updated = cli("settings", "set", "--company", "4", "--nightly-sync")  # the rest is kept
    assert updated.returncode == 0, updated.stderr
    assert "nightly_sync=true frequent_sync=true" in updated.stdout
    table = cli("settings", "list")
    header = table.stdout.splitlines()[0]
    assert "nightly_sync" in header and "frequent_sync" in header
    for out in (created, updated, table):
        assert api_key not in out.stdout + out.stderr
    bad = cli("settings", "set", "--company", "4", "--frequent-sync=maybe")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_api_switches_round_trip_without_showing_the_key(
    wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVOICE_PIPELINE_JWT_SECRET", secrets.token_urlsafe(40))
    user = users.create_user(
        wh, username="admin4", password="correct horse battery", role="ADMIN", company_id=4
    )
    app = create_app(wh.path)
    headers = {"Authorization": f"Bearer {app.state.signer.issue(user)}"}
    key = str(uuid.uuid4())
    with TestClient(app, base_url="http://testserver") as client:
        created = client.post(
            "/api/billingo-settings/", headers=headers,
            json={"api_key_input": key, "company_name": "Négy Kft.", "frequent_sync": True},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["nightly_sync"], body["frequent_sync"], body["is_active"]) == (
            True, True, True,
        )  # fmt: skip
        updated = client.post(
            "/api/billingo-settings/", headers=headers, json={"nightly_sync": False}
        )
        assert updated.status_code == 200, updated.text
        assert (updated.json()["nightly_sync"], updated.json()["frequent_sync"]) == (False, True)
        listed = client.get("/api/billingo-settings/", headers=headers)
        assert listed.json()["results"] == [updated.json()]
        bad = client.post("/api/billingo-settings/", headers=headers, json={"nightly_sync": "x"})
        assert bad.status_code == 400 and "nightly_sync" in bad.text
        for response in (created, updated, listed, bad):
            assert key not in response.text
    [stored] = settings_store.list_settings(wh, company_id=4)
    assert (stored.nightly_sync, stored.frequent_sync) == (False, True)
    con = duckdb.connect(str(snapshot.link_path(wh.path)), read_only=True)
    try:  # the analysts' view of the settings shows the switches, never the key
        row = con.execute("SELECT * FROM v_settings WHERE company_id = 4").fetchone()
        columns = [d[0] for d in con.description or []]
    finally:
        con.close()
    assert row is not None and key not in str(row)
    assert dict(zip(columns, row, strict=True))["frequent_sync"] is True
    assert "api_key_encrypted" not in columns


def test_settings_from_before_the_switches_get_their_defaults(wh: Warehouse) -> None:
    """A warehouse at schema v2 (settings without switches): the first read of the settings
    migrates it; existing companies stay in the nightly sync and out of the frequent one."""
    con = duckdb.connect(str(wh.path))
    con.execute(
        "CREATE TABLE company_settings (company_id INTEGER NOT NULL, source VARCHAR NOT NULL, "
        "company_name VARCHAR NOT NULL, api_key_encrypted VARCHAR, base_url VARCHAR, "
        "is_active BOOLEAN NOT NULL DEFAULT TRUE, created_at TIMESTAMPTZ NOT NULL, "
        "updated_at TIMESTAMPTZ NOT NULL, last_sync_time TIMESTAMPTZ, "
        "PRIMARY KEY (company_id, source))"
    )
    con.execute(
        "INSERT INTO company_settings VALUES (4, 'billingo', 'Régi Kft.', NULL, NULL, TRUE, "
        "now(), now(), NULL)"
    )
    con.execute("CREATE TABLE schema_meta (version INTEGER NOT NULL)")
    con.execute("INSERT INTO schema_meta VALUES (2)")
    con.close()
    [old] = settings_store.list_settings(wh)
    assert (old.company_name, old.nightly_sync, old.frequent_sync) == ("Régi Kft.", True, False)
    assert eligibility.targets(wh, schedule="nightly_sync") == {4: ["billingo"]}
    assert scalar(wh, "SELECT max(version) FROM schema_meta") == schema.SCHEMA_VERSION >= 4
    with pytest.raises(duckdb.ConstraintException), wh.write() as con:
        con.execute("UPDATE company_settings SET frequent_sync = NULL")
