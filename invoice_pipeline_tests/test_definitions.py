"""The code location loads and the nightly schedule asks for the right runs."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from invoice_pipeline import settings_store
from invoice_pipeline.definitions import defs
from invoice_pipeline.orchestration.schedules import nightly_sync
from invoice_pipeline.partitions import SYNC_TYPE_TAG, companies
from invoice_pipeline.resources import NoValuesIOManager, WarehouseResource
from invoice_pipeline.sync.service import SOURCES
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import CHECKS_BLOCKING


def test_definitions_load_with_every_resource() -> None:
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("sync_job")
    assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} == {
        *(f"{source}_documents" for source in SOURCES), "invoices", "invoice_items", "sync_logs",
    }  # fmt: skip
    assert job.partitions_def == companies
    schedule = defs.resolve_schedule_def("nightly_sync")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Budapest"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    frequent = defs.resolve_schedule_def("frequent_sync")
    assert (frequent.cron_schedule, frequent.execution_timezone) == (
        "0 8,12,16,20 * * *", "Europe/Budapest",
    )  # fmt: skip
    assert frequent.default_status == dg.DefaultScheduleStatus.STOPPED
    assert frequent.job_name == schedule.job_name == "sync_job"
    freshness = defs.resolve_schedule_def("sync_freshness")
    assert freshness.cron_schedule == "15 * * * *" and freshness.job_name == "sync_freshness_job"
    for name in ("sync_failure_alerts", "company_partitions"):
        sensor = defs.resolve_sensor_def(name)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert {h.name for h in job.hook_defs} == {"close_sync_logs_on_failure"}
    for source in SOURCES:
        retry = defs.get_assets_def(f"{source}_documents").op.retry_policy
        assert retry is not None and (retry.max_retries, retry.delay) == (3, 30.0)
        assert (retry.backoff, retry.jitter) == (dg.Backoff.EXPONENTIAL, dg.Jitter.PLUS_MINUS)


def test_every_asset_has_owners_kinds_and_a_description_and_its_checks() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        spec = graph.get(key)
        assert spec.owners == ["team:data-engineering"], key
        assert spec.kinds and spec.description, key
    checks = {
        (k.asset_key.to_user_string(), k.name): graph.get_check_spec(k)
        for k in graph.asset_check_keys
    }
    assert {key: spec.blocking for key, spec in checks.items()} == CHECKS_BLOCKING
    assert all(
        (spec.partitions_def == companies) == (name != "syncs_are_fresh")
        for (_, name), spec in checks.items()
    )
    job = defs.resolve_job_def("sync_job")
    in_job = job.asset_layer.asset_graph.asset_check_keys
    assert set(checks) == {(k.asset_key.to_user_string(), k.name) for k in in_job}
    # The partitioned checks are one step (one warehouse connection); freshness its own.
    assert {node.name for node in job.graph.nodes} == {
        *(f"{source}_documents" for source in SOURCES), "normalized_tables", "sync_logs",
        "company_checks", "sync_logs_syncs_are_fresh",
    }  # fmt: skip


def test_nightly_schedule_requests_one_automatic_run_per_active_company(
    wh: Warehouse, dagster_instance: dg.DagsterInstance
) -> None:
    for company_id, active in [(904, True), (907, True), (909, False)]:
        settings_store.upsert(
            wh, company_id=company_id, source="billingo", company_name=f"C{company_id}",
            api_key="k", is_active=active,
        )  # fmt: skip
    with dg.build_schedule_context(  # a context manager: no state outlives the evaluation
        instance=dagster_instance,
        scheduled_execution_time=datetime(2026, 11, 23, 2, tzinfo=ZoneInfo("Europe/Budapest")),
        resources={"warehouse": WarehouseResource(db_path=str(wh.path))},
    ) as context:
        requests = nightly_sync(context)
    assert [r.partition_key for r in requests] == ["904", "907"]
    assert all(r.tags[SYNC_TYPE_TAG] == "AUTOMATIC" for r in requests)
    assert len({r.run_key for r in requests}) == 2
    partitions = set(dagster_instance.get_dynamic_partitions(companies.name))
    assert {"904", "907"} <= partitions and "909" not in partitions


def test_nightly_schedule_skips_when_nothing_is_configured(wh: Warehouse) -> None:
    with dg.build_schedule_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={"warehouse": WarehouseResource(db_path=str(wh.path))},
    ) as context:
        assert isinstance(nightly_sync(context), dg.SkipReason)


def test_the_io_manager_stores_nothing_and_refuses_values() -> None:
    """The assets pass no values, so the location's IO manager stores none (Dagster's
    default one costs every run 40 ms of imports to set up)."""
    assert isinstance((defs.resources or {})["io_manager"], NoValuesIOManager)
    io = NoValuesIOManager()
    io.handle_output(dg.build_output_context(asset_key="invoices"), None)
    with pytest.raises(dg.Failure, match="invoices returned a value"):
        io.handle_output(dg.build_output_context(asset_key="invoices"), {"rows": 1})
    with pytest.raises(dg.Failure, match="no values to load"):
        io.load_input(dg.build_input_context())
