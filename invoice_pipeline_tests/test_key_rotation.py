"""Secret-key rotation: every stored API key re-encrypted, syncs keep working, old key dead."""

import pytest
from cryptography.fernet import Fernet, InvalidToken

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import scalar
from invoice_pipeline_tests.test_cli import cli, one_line_error

NO_ENV_KEY = {"INVOICE_PIPELINE_SECRET_KEY": ""}


def _configure(emulator: BillingoEmulator, key: str, company: str, env: dict[str, str]) -> None:
    out = cli(
        "settings", "set", "--company", company, "--name", f"C{company} Kft.",
        "--api-key-stdin", "--base-url", emulator.base_url, stdin=key, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def _tokens(wh: Warehouse) -> list[str]:
    with wh.read() as con:
        rows = con.execute("SELECT api_key_encrypted FROM company_settings ORDER BY 1").fetchall()
        return [r[0] for r in rows]


def test_rotating_the_key_file(emulator: BillingoEmulator, api_key: str, wh: Warehouse) -> None:
    key_file = wh.path.parent / "secret.key"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    old = key_file.read_text().strip()
    for company in ("4", "7"):
        emulator.add_account(api_key + company, docs=20, seed=int(company))
        _configure(emulator, api_key + company, company, NO_ENV_KEY)
    before = _tokens(wh)

    out = cli("secret-key", "rotate", env=NO_ENV_KEY)
    assert out.returncode == 0, out.stderr
    assert "re-encrypted 2 stored API key(s)" in out.stdout
    assert api_key not in out.stdout + out.stderr
    new = key_file.read_text().strip()
    assert new != old and "," not in new and (key_file.stat().st_mode & 0o777) == 0o600
    after = _tokens(wh)
    assert set(after).isdisjoint(before)
    for token in after:
        assert Fernet(new.encode()).decrypt(token.encode()).decode().startswith(api_key)
        with pytest.raises(InvalidToken):
            Fernet(old.encode()).decrypt(token.encode())
    synced = cli("sync", "--json", env=NO_ENV_KEY)
    assert synced.returncode == 0, synced.stderr
    assert scalar(wh, "SELECT count(*) FROM invoices") == 40


def test_rotating_through_the_environment_and_a_wrong_key(
    emulator: BillingoEmulator, api_key: str, wh: Warehouse
) -> None:
    old, new, wrong = (Fernet.generate_key().decode() for _ in range(3))
    emulator.add_account(api_key, docs=10, seed=1)
    _configure(emulator, api_key, "4", {"INVOICE_PIPELINE_SECRET_KEY": old})
    before = _tokens(wh)

    refused = cli("secret-key", "rotate", env={"INVOICE_PIPELINE_SECRET_KEY": wrong})
    assert "cannot be decrypted" in one_line_error(refused)
    assert _tokens(wh) == before  # nothing half re-encrypted

    out = cli("secret-key", "rotate", env={"INVOICE_PIPELINE_SECRET_KEY": f"{new},{old}"})
    assert out.returncode == 0, out.stderr
    assert cli("sync", env={"INVOICE_PIPELINE_SECRET_KEY": new}).returncode == 0
    stale = cli("sync", env={"INVOICE_PIPELINE_SECRET_KEY": old})
    assert "cannot be decrypted" in stale.stderr and api_key not in stale.stderr
