"""The command line in real subprocesses: settings, sync, errors as one line, no key leaks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator


def cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoice_pipeline", *args],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def configure_company(emulator: BillingoEmulator, key: str) -> None:
    """Company 4 on the emulator, through the CLI."""
    out = cli(
        "settings", "set", "--company", "4", "--name", "A Kft.", "--api-key-stdin",
        "--base-url", emulator.base_url, stdin=key,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_settings_set_and_list_never_show_the_key(api_key: str) -> None:
    out = cli(
        "settings",
        "set",
        "--company",
        "4",
        "--name",
        "IT Cardigan Kft.",
        "--api-key-stdin",
        stdin=api_key + "\n",
    )
    assert out.returncode == 0, out.stderr
    assert (
        "created billingo settings for company 4 (IT Cardigan Kft.); has_api_key=true" in out.stdout
    )
    listed = cli("settings", "list", "--json")
    [row] = json.loads(listed.stdout)
    assert row["company"] == 4 and row["has_api_key"] is True and row["is_active"] is True
    table = cli("settings", "list")
    assert "IT Cardigan Kft." in table.stdout
    for text in (out.stdout, out.stderr, listed.stdout, table.stdout):
        assert api_key not in text
    assert api_key.encode() not in Path(os.environ["INVOICE_PIPELINE_DB"]).read_bytes()


def test_sync_json_prints_the_result_shape_and_exit_code(
    emulator: BillingoEmulator, api_key: str
) -> None:
    emulator.add_account(api_key, docs=120, seed=3)
    configure_company(emulator, api_key)
    out = cli("sync", "--company", "4", "--source", "billingo", "--json")
    assert out.returncode == 0, out.stderr
    [result] = json.loads(out.stdout)
    assert set(result) == {
        "company_id", "source", "status", "invoices_processed", "invoices_created",
        "invoices_updated", "invoices_skipped", "items_extracted", "api_calls",
        "duration_seconds", "errors", "sync_mode", "sync_mode_reason", "invoices_deleted",
    }  # fmt: skip
    assert (result["status"], result["invoices_created"], result["api_calls"]) == (
        "COMPLETED",
        120,
        2,
    )
    assert api_key not in out.stdout + out.stderr
    again = cli("sync")
    assert again.returncode == 0
    assert "COMPLETED" in again.stdout and "120" in again.stdout


def test_failed_sync_exits_non_zero_with_the_reason(
    emulator: BillingoEmulator, api_key: str
) -> None:
    emulator.add_account(api_key, docs=5, seed=3)
    configure_company(emulator, "wrong-key")
    out = cli("sync", "--json")
    assert out.returncode == 1
    [result] = json.loads(out.stdout)
    assert result["status"] == "FAILED"
    assert result["errors"][-1]["error"] == "Billingo rejected the API key for company 4"
    assert_no_stack_trace(out)
    table = cli("sync")  # the table, then the reason in one line on stderr
    assert table.returncode == 1
    assert table.stderr.strip() == "company 4 billingo: Billingo rejected the API key for company 4"


def assert_no_stack_trace(out: subprocess.CompletedProcess[str]) -> None:
    """A failed run says why in one line (the CLI's), not with Dagster's stack traces."""
    for marker in ("Traceback", "Stack Trace", "STEP_FAILURE", "RUN_FAILURE", "Not executing"):
        assert marker not in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["sync", "--company", "99"], {}, "error: company 99 has no active settings to sync"),
        (["sync", "--company", "abc"], {}, "is not a valid integer"),
        (["sync", "--source", "nope"], {}, "'nope' is not one of"),
        (
            ["settings", "set", "--company", "5", "--api-key-stdin"],
            {},
            "error: company 5 is new: --name is required",
        ),
        (
            ["settings", "set", "--company", "5", "--name", "X", "--base-url", "ftp://x"],
            {},
            "base URL must start with http",
        ),
        (
            ["settings", "set", "--company", "5", "--name", "X", "--api-key-stdin"],
            {"INVOICE_PIPELINE_SECRET_KEY": "not-a-key"},
            "is not a valid Fernet key",
        ),
        (
            ["settings", "set", "--company", "5", "--name", "X", "--api-key-stdin"],
            {"INVOICE_PIPELINE_SECRET_KEY": ""},
            "no secret key: set INVOICE_PIPELINE_SECRET_KEY",
        ),
        (
            ["settings", "set", "--company", "5", "--name", "X", "--api-key-stdin"],
            {"INVOICE_PIPELINE_DUCKDB_MEMORY": "lots"},
            "error: INVOICE_PIPELINE_DUCKDB_MEMORY must be a size such as 256MB or 1GB",
        ),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    args: list[str], env: dict[str, str], expected: str
) -> None:
    assert expected in one_line_error(cli(*args, stdin="some-key\n", env=env))


def test_wrong_secret_key_is_a_clear_error_and_keeps_the_settings(
    emulator: BillingoEmulator, api_key: str
) -> None:
    from cryptography.fernet import Fernet

    emulator.add_account(api_key, docs=3, seed=3)
    configure_company(emulator, api_key)
    out = cli("sync", "--json", env={"INVOICE_PIPELINE_SECRET_KEY": Fernet.generate_key().decode()})
    [result] = json.loads(out.stdout)
    assert result["status"] == "FAILED"
    assert "cannot be decrypted with the configured secret key" in result["errors"][-1]["error"]
    assert_no_stack_trace(out)
    assert cli("sync", "--json").returncode == 0  # the right key still works: nothing was lost


def test_a_bad_sync_setting_fails_the_sync_naming_the_variable(
    emulator: BillingoEmulator, api_key: str
) -> None:
    emulator.add_account(api_key, docs=3, seed=3)
    configure_company(emulator, api_key)
    for name, value in [
        ("INVOICE_PIPELINE_BATCH_DOCUMENTS", "abc"),
        ("INVOICE_PIPELINE_DUCKDB_LOAD_MEMORY", "lots"),
        ("INVOICE_PIPELINE_DUCKDB_PUBLISH_MEMORY", "lots"),
        ("INVOICE_PIPELINE_DUCKDB_CHECK_MEMORY", "lots"),
    ]:
        out = cli("sync", "--json", env={name: value})
        [result] = json.loads(out.stdout)
        assert (out.returncode, result["status"]) == (1, "FAILED")
        assert result["errors"][-1]["error"].startswith(f"{name} must be")
        assert_no_stack_trace(out)
    assert cli("sync", "--json").returncode == 0  # nothing was lost


def test_a_sync_of_both_sources_never_imports_pandas(
    emulator: BillingoEmulator, api_key: str
) -> None:
    """pandas is 40 MB of a sync process's memory; only ``to_dataframe`` needs it (the loaders
    hand pages to DuckDB as Arrow built from buffers: ``sync/page_table.py``)."""
    from invoice_pipeline.emulators.billx import BillxEmulator
    from invoice_pipeline.warehouse import Warehouse
    from invoice_pipeline_tests.helpers import configure_billx

    emulator.add_account(api_key, docs=120, seed=3)
    configure_company(emulator, api_key)
    probe = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('pandas imported:', 'pandas' in sys.modules))\n"
        "sys.argv = ['invoice-pipeline', 'sync']\n"
        "runpy.run_module('invoice_pipeline', run_name='__main__')\n"
    )
    with BillxEmulator() as billx:
        configure_billx(Warehouse(os.environ["INVOICE_PIPELINE_DB"]), billx, "bx-" + api_key)
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
        )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("COMPLETED") == 2, out.stdout
    assert "pandas imported: False" in out.stdout


def test_a_run_that_fails_after_its_sync_exits_non_zero_and_says_why(
    emulator: BillingoEmulator, api_key: str
) -> None:
    """The sync is stored and its log COMPLETED, then publishing the read snapshot fails (a
    publish limit DuckDB cannot work in): the result says so and the exit code is 1."""
    emulator.add_account(api_key, docs=3, seed=3)
    configure_company(emulator, api_key)
    out = cli("sync", "--json", env={"INVOICE_PIPELINE_DUCKDB_PUBLISH_MEMORY": "1KB"})
    [result] = json.loads(out.stdout)
    assert out.returncode == 1
    assert (result["status"], result["invoices_created"]) == ("COMPLETED", 3)
    [error] = result["errors"]
    assert error["error"].startswith("the run failed after the sync: ")
    assert "memory limit" in error["error"]
    again = cli("sync", "--json")  # the next run publishes what the failed one stored
    assert again.returncode == 0
    assert json.loads(again.stdout)[0]["invoices_skipped"] == 3


def test_the_data_checks_run_under_their_own_memory_limit(
    emulator: BillingoEmulator, api_key: str
) -> None:
    """A check memory limit DuckDB cannot work in leaves the blocking checks unevaluated:
    the run fails, saying which checks and why, and the next run with the default passes."""
    emulator.add_account(api_key, docs=3, seed=3)
    configure_company(emulator, api_key)
    out = cli("sync", "--json", env={"INVOICE_PIPELINE_DUCKDB_CHECK_MEMORY": "1KB"})
    [result] = json.loads(out.stdout)
    assert (out.returncode, result["status"]) == (1, "FAILED")
    assert "blocking asset checks failed" in result["errors"][-1]["error"]
    assert "check no_orphan_items could not be evaluated: Out of Memory" in out.stderr
    again = cli("sync", "--json")
    assert again.returncode == 0, again.stdout
