"""Errors that are the user's input or environment, reported in one line."""

from invoice_pipeline.api.tokens import TokenConfigError
from invoice_pipeline.config import ConfigError
from invoice_pipeline.crypto import SecretKeyError
from invoice_pipeline.features import FeatureError
from invoice_pipeline.queries import QueryError
from invoice_pipeline.settings_store import SettingsError
from invoice_pipeline.sync.eligibility import NothingToSyncError
from invoice_pipeline.sync.log import SyncAlreadyRunningError
from invoice_pipeline.users import UserError
from invoice_pipeline.warehouse import WarehouseBusyError

EXPECTED_ERRORS = (
    ConfigError,
    SecretKeyError,
    SettingsError,
    NothingToSyncError,
    QueryError,
    SyncAlreadyRunningError,
    WarehouseBusyError,
    UserError,
    FeatureError,
    TokenConfigError,
)
