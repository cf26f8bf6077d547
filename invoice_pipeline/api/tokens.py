"""JWT access and refresh tokens (HS256, PyJWT) and where their signing secret comes from.

The secret is ``INVOICE_PIPELINE_JWT_SECRET`` when set, else the file ``jwt.key`` beside the
Fernet key file (``data/jwt.key`` by default), created with mode 0600 on first use the way
``crypto.ensure_key_file`` creates the Fernet key. Tokens carry the username (``sub``), the
role and company (informational: every request re-reads the user), and their type, so a
refresh token is never accepted as an access token or the other way round.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from invoice_pipeline import config
from invoice_pipeline.users import User

SECRET_ENV = "INVOICE_PIPELINE_JWT_SECRET"
TTL_ENV = "INVOICE_PIPELINE_JWT_TTL_S"
REFRESH_TTL_ENV = "INVOICE_PIPELINE_JWT_REFRESH_TTL_S"
MIN_SECRET_LENGTH = 32
ALGORITHM = "HS256"
ACCESS, REFRESH = "access", "refresh"


class TokenConfigError(RuntimeError):
    """The signing secret or a token lifetime is missing or malformed."""


class InvalidToken(ValueError):
    """A token that is malformed, forged, expired or of the wrong type (message: why)."""


def secret_file() -> Path:
    return config.key_file().with_name("jwt.key")


def ensure_secret_file(path: Path | None = None) -> bool:
    """Create the secret file (mode 0600) unless the variable is set; True if created."""
    if os.environ.get(SECRET_ENV):
        return False
    path = path or secret_file()
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return False
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48) + "\n")
    return True


def load_secret() -> str:
    origin, value = SECRET_ENV, os.environ.get(SECRET_ENV)
    if not value:
        path = secret_file()
        origin = f"the JWT key file {path}"
        if not path.exists():
            raise TokenConfigError(f"no JWT secret: set {SECRET_ENV} or create {path}")
        value = path.read_text().strip()
    if len(value) < MIN_SECRET_LENGTH:
        raise TokenConfigError(f"{origin} must hold at least {MIN_SECRET_LENGTH} characters")
    return value


def _seconds(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise TokenConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


@dataclass(frozen=True)
class TokenSigner:
    secret: str
    access_ttl_s: int = 3600
    refresh_ttl_s: int = 86400

    def __repr__(self) -> str:  # never show the secret
        return f"TokenSigner(access_ttl_s={self.access_ttl_s}, refresh_ttl_s={self.refresh_ttl_s})"

    @classmethod
    def from_env(cls) -> TokenSigner:
        """The secret (creating the key file when needed) and the lifetimes."""
        ensure_secret_file()
        return cls(
            secret=load_secret(),
            access_ttl_s=_seconds(TTL_ENV, 3600),
            refresh_ttl_s=_seconds(REFRESH_TTL_ENV, 86400),
        )

    def issue(self, user: User, token_type: str = ACCESS) -> str:
        now = int(time.time())
        ttl = self.access_ttl_s if token_type == ACCESS else self.refresh_ttl_s
        claims = {
            "sub": user.username,
            "role": user.role,
            "company": user.company_id,
            "token_type": token_type,
            "iat": now,
            "exp": now + ttl,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def decode(self, token: str, token_type: str = ACCESS) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("Token is expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise InvalidToken("Token is invalid") from None
        if claims.get("token_type") != token_type or not isinstance(claims.get("sub"), str):
            raise InvalidToken("Token has wrong type")
        return claims
