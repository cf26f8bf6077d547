"""Shared fixtures: an isolated warehouse and secret key per test, a live Billingo emulator."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import hypothesis  # noqa: F401  (imported early: CPython 3.11.7 fails to compile it late)
import pytest
from cryptography.fernet import Fernet

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own warehouse file and secret key, and no DAGSTER_HOME."""
    monkeypatch.setenv("INVOICE_PIPELINE_DB", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("INVOICE_PIPELINE_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("INVOICE_PIPELINE_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("INVOICE_PIPELINE_REQUESTS_PER_MINUTE", "0")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("BILLINGO_BASE_URL", raising=False)


@pytest.fixture(scope="session")
def dagster_instance() -> Iterator[dg.DagsterInstance]:
    """One instance for the session: instances register global state that they reset when
    disposed, so creating and dropping one per test leaves Dagster pointing at a dead one."""
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse.duckdb")


@pytest.fixture
def emulator() -> Iterator[BillingoEmulator]:
    with BillingoEmulator(timeout_s=3.0) as emu:
        yield emu


@pytest.fixture
def api_key() -> str:
    """A generated key, so that leak checks can search for it."""
    return "key-" + secrets.token_hex(16)
