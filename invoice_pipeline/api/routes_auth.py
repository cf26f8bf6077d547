"""``POST /api/auth/login/`` and ``POST /api/auth/refresh/``."""

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from invoice_pipeline import users
from invoice_pipeline.api import errors
from invoice_pipeline.api.auth import DbPath, Signer, principal_for, unauthorized
from invoice_pipeline.api.tokens import REFRESH

NO_ACCOUNT = "No active account found with the given credentials"


class LoginInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(
        min_length=1, max_length=users.MAX_PASSWORD_LENGTH, json_schema_extra={"writeOnly": True}
    )


class RefreshInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh: str = Field(min_length=1, max_length=4096)


class UserInfo(BaseModel):
    username: str
    role: str
    company: int


class LoginOutput(BaseModel):
    access: str
    refresh: str
    user: UserInfo


class AccessOutput(BaseModel):
    access: str


def auth_router() -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["auth"])

    @router.post("/login/", response_model=LoginOutput, responses=errors.responses(400, 401))
    def login(
        body: LoginInput,
        tokens: Signer,
        db: DbPath,
    ) -> LoginOutput:
        """Exchange a username and password for an access and a refresh token."""
        user = users.authenticate(body.username, body.password, db)
        if user is None:
            raise unauthorized(NO_ACCOUNT, "authentication_failed")
        return LoginOutput(
            access=tokens.issue(user),
            refresh=tokens.issue(user, REFRESH),
            user=UserInfo(username=user.username, role=user.role, company=user.company_id),
        )

    @router.post("/refresh/", response_model=AccessOutput, responses=errors.responses(400, 401))
    def refresh(
        body: RefreshInput,
        tokens: Signer,
        db: DbPath,
    ) -> AccessOutput:
        """A new access token for a valid refresh token of a still active user."""
        principal = principal_for(body.refresh, tokens, db, REFRESH)
        user = users.get_user(principal.username, db)
        assert user is not None
        return AccessOutput(access=tokens.issue(user))

    return router
