"""Fernet encryption of stored API keys.

The secret key comes from ``INVOICE_PIPELINE_SECRET_KEY`` (several comma-separated keys are
accepted, newest first, so a rotation can decrypt old tokens: ``MultiFernet``), else from the
key file (``data/secret.key`` by default), which ``ensure_key_file`` creates with mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from invoice_pipeline import config


class SecretKeyError(RuntimeError):
    """The secret key is missing, malformed or does not decrypt a stored API key."""


def _parse_keys(text: str, origin: str) -> MultiFernet:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise SecretKeyError(f"{origin} is empty")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError):
        raise SecretKeyError(
            f"{origin} is not a valid Fernet key (32 url-safe base64-encoded bytes); "
            "create one with: invoice-pipeline secret-key new"
        ) from None


def load_cipher() -> MultiFernet:
    env = config.secret_key_env()
    if env:
        return _parse_keys(env, "INVOICE_PIPELINE_SECRET_KEY")
    path = config.key_file()
    if path.exists():
        return _parse_keys(path.read_text(), f"the key file {path}")
    raise SecretKeyError(
        f"no secret key: set INVOICE_PIPELINE_SECRET_KEY or create the key file {path} "
        "(invoice-pipeline secret-key new)"
    )


def ensure_key_file(path: Path | None = None) -> bool:
    """Create a new key file (mode 0600) unless a key is configured; True if one was created."""
    if config.secret_key_env():
        return False
    path = path or config.key_file()
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(Fernet.generate_key().decode() + "\n")
    return True


def encrypt(api_key: str) -> str:
    return load_cipher().encrypt(api_key.encode()).decode()


def decrypt(token: str, *, what: str) -> str:
    """Decrypt a stored key; ``what`` names it in the error (never the key itself)."""
    try:
        return load_cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            f"the stored API key for {what} cannot be decrypted with the configured secret key "
            "(wrong INVOICE_PIPELINE_SECRET_KEY or key file?)"
        ) from None


def rotate(token: str, *, what: str) -> str:
    """Re-encrypt a stored key with the first (newest) secret key."""
    try:
        return load_cipher().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            f"the stored API key for {what} cannot be decrypted with any configured secret key: "
            "nothing was re-encrypted"
        ) from None


def _write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically (mode 0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(",".join(keys) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def add_file_key(path: Path) -> str:
    """Put a new key first in the key file, keeping the old ones (they still decrypt);
    returns the new key."""
    old = [k.strip() for k in path.read_text().split(",") if k.strip()]
    _parse_keys(",".join(old), f"the key file {path}")
    new = Fernet.generate_key().decode()
    _write_key_file(path, [new, *old])
    return new


def keep_only_file_key(path: Path, key: str) -> None:
    """After every stored key is re-encrypted: drop the old keys from the key file."""
    _write_key_file(path, [key])
