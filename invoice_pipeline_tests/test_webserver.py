"""The code location in a real ``dagster-webserver``: it loads, shows the assets, checks,
schedules and sensor, and a sync launched through its GraphQL API fills the warehouse."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.sync.service import SOURCES
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import CHECKS_BLOCKING, scalar

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_S = 40.0
RUN_S = 60.0
# DefaultRunCoordinator: the webserver launches runs itself (no daemon, unlike the queue).
DAGSTER_YAML = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""

WORKSPACE = """
query {
  workspaceOrError {
    __typename
    ... on PythonError { message }
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation {
            repositories {
              name
              jobs { name }
              schedules { name cronSchedule scheduleState { status } }
              sensors { name sensorState { status } }
            }
          }
        }
      }
    }
  }
}"""

ASSETS = """
query {
  assetNodes {
    assetKey { path }
    description
    kinds
    owners { __typename ... on TeamAssetOwner { team } }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking } }
    }
  }
}"""

ADD_PARTITION = """
mutation ($repo: RepositorySelector!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: "companies",
                      partitionKey: $key) {
    __typename
    ... on PythonError { message }
  }
}"""

LAUNCH = """
mutation ($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}"""

RUN = """
query ($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"""

LATEST = """
query {
  assetOrError(assetKey: {path: ["invoices"]}) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        partition runId
        metadataEntries {
          label
          ... on MarkdownMetadataEntry { mdStr }
          ... on IntMetadataEntry { intValue }
        }
      }
    }
  }
  assetCheckExecutions(assetKey: {path: ["invoices"]}, checkName: "unique_invoice_keys",
                       partition: "4", limit: 1) {
    runId partition status
  }
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Webserver:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=30.0)

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def webserver(tmp_path: Path, emulator: BillingoEmulator, api_key: str) -> Iterator[Webserver]:
    """Company 4 configured through the CLI against the emulator, then a webserver on a free
    port with its own DAGSTER_HOME; the whole process group is killed afterwards."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    emulator.add_account(api_key, docs=120, seed=5)
    configured = subprocess.run(
        [sys.executable, "-m", "invoice_pipeline", "settings", "set", "--company", "4",
         "--name", "Web Kft.", "--api-key-stdin", "--base-url", emulator.base_url],
        input=api_key, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert configured.returncode == 0, configured.stderr
    port = free_port()
    log_path = tmp_path / "webserver.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-webserver"),
             "-m", "invoice_pipeline.definitions", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: code server and runs included
        )  # fmt: skip
    server = Webserver(port)
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                if server.http.get("/server_info", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "webserver did not start:\n" + log_path.read_text()
            time.sleep(0.3)
        yield server
    finally:
        server.http.close()
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.mark.timeout(150)
def test_webserver_loads_the_location_and_a_launched_sync_fills_the_warehouse(
    webserver: Webserver, wh: Warehouse, api_key: str
) -> None:
    # The code location loads (polled: the webserver loads it in the background).
    deadline = time.monotonic() + STARTUP_S
    while True:
        [entry] = webserver.gql(WORKSPACE)["workspaceOrError"]["locationEntries"]
        if entry["loadStatus"] == "LOADED":
            break
        assert time.monotonic() < deadline, entry
        time.sleep(0.5)
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    [repo] = location["repositories"]
    assert {j["name"] for j in repo["jobs"]} >= {"sync_job", "sync_freshness_job"}
    schedules = {s["name"]: s for s in repo["schedules"]}
    assert schedules["nightly_sync"]["cronSchedule"] == "0 2 * * *"
    assert schedules["sync_freshness"]["scheduleState"]["status"] == "RUNNING"
    assert {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]} == {
        "sync_failure_alerts": "RUNNING", "company_partitions": "RUNNING",
    }  # fmt: skip
    assert schedules["frequent_sync"]["scheduleState"]["status"] == "STOPPED"

    nodes = {"/".join(n["assetKey"]["path"]): n for n in webserver.gql(ASSETS)["assetNodes"]}
    tables = {"invoices", "invoice_items", "sync_logs"}
    assert set(nodes) == {f"{source}_documents" for source in SOURCES} | tables
    for name, node in nodes.items():
        assert node["description"] and node["kinds"], name
        assert node["owners"] == [{"__typename": "TeamAssetOwner", "team": "data-engineering"}]
    checks = {
        (name, c["name"]): c["blocking"]
        for name, node in nodes.items()
        for c in node["assetChecksOrError"].get("checks", [])
    }
    assert checks == CHECKS_BLOCKING

    # Launch sync_job for company 4, as the UI does: add the partition, launch with its tag.
    repo_selector = {"repositoryLocationName": entry["name"], "repositoryName": repo["name"]}
    added = webserver.gql(ADD_PARTITION, repo=repo_selector, key="4")["addDynamicPartition"]
    assert added["__typename"] == "AddDynamicPartitionSuccess", added
    params = {
        "selector": {**repo_selector, "jobName": "sync_job"},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "4"}]},
    }
    launched = webserver.gql(LAUNCH, params=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + RUN_S
    status = "QUEUED"
    while status not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline, f"run {run_id} still {status}"
        time.sleep(0.5)
        status = webserver.gql(RUN, id=run_id)["runOrError"]["status"]
    assert status == "SUCCESS"

    assert scalar(wh, "SELECT count(*) FROM invoices WHERE company_id = 4") == 120
    assert scalar(wh, "SELECT status FROM sync_logs WHERE run_id = ?", [run_id]) == "COMPLETED"
    latest = webserver.gql(LATEST)
    [materialization] = latest["assetOrError"]["assetMaterializations"]
    assert (materialization["partition"], materialization["runId"]) == ("4", run_id)
    entries = {e["label"]: e for e in materialization["metadataEntries"]}
    assert entries["dagster/row_count"]["intValue"] == 120
    assert entries["latest_invoices"]["mdStr"].startswith("| Number | Date | Partner |")
    assert api_key not in str(latest)
    [execution] = latest["assetCheckExecutions"]
    assert execution == {"runId": run_id, "partition": "4", "status": "SUCCEEDED"}
