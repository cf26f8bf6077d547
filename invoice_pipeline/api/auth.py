"""Who is calling: the bearer token's user (re-read on every request), and the checks each
route makes with it: role, then the company's feature flag for the route's source."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from invoice_pipeline import features, users
from invoice_pipeline.api.errors import PERMISSION_DENIED, ApiError
from invoice_pipeline.api.tokens import ACCESS, InvalidToken, TokenSigner

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}

# Declares the scheme in the OpenAPI schema; the header itself is parsed below, so that a
# malformed header gets its own message instead of FastAPI's generic 403.
bearer = HTTPBearer(auto_error=False, description="The `access` token of POST /api/auth/login/")


@dataclass(frozen=True)
class Principal:
    username: str
    role: str
    company_id: int

    @property
    def is_admin(self) -> bool:
        return self.role == "ADMIN"


def unauthorized(detail: str, code: str) -> ApiError:
    return ApiError(401, detail, code, headers=_CHALLENGE)


def db_path(request: Request) -> Path:
    return request.app.state.db_path


def signer(request: Request) -> TokenSigner:
    return request.app.state.signer


DbPath = Annotated[Path, Depends(db_path)]
Signer = Annotated[TokenSigner, Depends(signer)]


def principal_for(token: str, tokens: TokenSigner, db: Path, token_type: str = ACCESS) -> Principal:
    """The active user a token belongs to; 401 when the token or the user is not valid."""
    try:
        claims = tokens.decode(token, token_type)
    except InvalidToken as exc:
        raise unauthorized(str(exc), "token_not_valid") from None
    user = users.get_user(claims["sub"], db)
    if user is None or not user.is_active:
        raise unauthorized("User not found or inactive.", "authentication_failed")
    return Principal(user.username, user.role, user.company_id)


def current_principal(
    request: Request,
    tokens: Signer,
    db: DbPath,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _sep, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized("Authentication credentials were not provided.", "not_authenticated")
    token = token.strip()
    if not token or " " in token:
        raise unauthorized(
            "Authorization header must contain two space-delimited values: Bearer <token>",
            "token_not_valid",
        )
    return principal_for(token, tokens, db)


def require(source: str, *, admin: bool) -> Callable[..., Principal]:
    """A dependency: the caller, if their role may use the route (ADMIN for settings) and
    their company has the source's feature flag on."""
    feature = features.feature_for(source)

    def check(principal: Annotated[Principal, Depends(current_principal)], db: DbPath) -> Principal:
        if admin and not principal.is_admin:
            raise ApiError(403, PERMISSION_DENIED, "permission_denied")
        if not features.is_enabled(principal.company_id, feature, db):
            raise ApiError(
                403, f"{feature} feature is not enabled for your company", "feature_not_enabled"
            )
        return principal

    return check
