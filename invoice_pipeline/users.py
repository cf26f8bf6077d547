"""API users: a username, an argon2 password hash, a role and the company they act for.

Users are written through the warehouse writer (``publish=True``) and read from the read
snapshot, so logging in and checking a token never wait for a running sync. Hashes never
leave this module: ``User`` has no hash field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import duckdb
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from invoice_pipeline.queries.errors import QueryError
from invoice_pipeline.queries.reader import snapshot_cursor
from invoice_pipeline.warehouse import Warehouse

ROLES = ("ADMIN", "USER")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
_USERNAME = re.compile(r"[A-Za-z0-9@.+_-]{1,150}")

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the username is unknown, so that a wrong username costs as long as a
    wrong password (no user enumeration by timing)."""
    return _hasher.hash("not a password of anyone")


class UserError(ValueError):
    """Bad user input: the message says what, in one line (never the password)."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    company_id: int
    is_active: bool
    created_at: datetime

    def public_dict(self) -> dict[str, object]:
        return {
            "username": self.username,
            "role": self.role,
            "company": self.company_id,
            "is_active": self.is_active,
            "created_at": self.created_at.isoformat(),
        }


def check_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise UserError(
            f"username must be 1-150 characters of letters, digits and @ . + - _, got {username!r}"
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")
    return password


def create_user(wh: Warehouse, *, username: str, password: str, role: str, company_id: int) -> User:
    """Add a user; usernames are unique (case-sensitive)."""
    check_username(username)
    check_password(password)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    if company_id <= 0:
        raise UserError(f"company id must be a positive integer, got {company_id}")
    hashed = _hasher.hash(password)
    with wh.write(publish=True) as con:
        if con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
            raise UserError(f"user {username!r} already exists")
        row = con.execute(
            "INSERT INTO users VALUES (?, ?, ?, ?, TRUE, now()) "
            "RETURNING username, role, company_id, is_active, created_at",
            [username, hashed, role, company_id],
        ).fetchone()
    assert row is not None
    return User(*row)


def list_users(db_path: Path | str | None = None) -> list[User]:
    """Every user, from the read snapshot (no hashes)."""
    return _select("TRUE", [], db_path)


def get_user(username: str, db_path: Path | str | None = None) -> User | None:
    found = _select("username = ?", [username], db_path)
    return found[0] if found else None


def authenticate(username: str, password: str, db_path: Path | str | None = None) -> User | None:
    """The active user with this username and password, else None (same cost either way)."""
    try:
        with snapshot_cursor(db_path) as cur:
            row = cur.execute(
                "SELECT password_hash FROM users WHERE username = ? AND is_active", [username]
            ).fetchone()
    except (QueryError, duckdb.CatalogException):  # no warehouse or no users yet
        row = None
    try:
        _hasher.verify(row[0] if row else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    return get_user(username, db_path) if row else None


def _select(condition: str, params: list[object], db_path: Path | str | None) -> list[User]:
    try:
        with snapshot_cursor(db_path) as cur:
            rows = cur.execute(
                "SELECT username, role, company_id, is_active, created_at FROM users "
                f"WHERE {condition} ORDER BY username",
                params,
            ).fetchall()
    except duckdb.CatalogException:  # a snapshot published before users existed
        return []
    return [User(*row) for row in rows]
