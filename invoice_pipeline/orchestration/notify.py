"""Where sync failure alerts go: the log only (default) or a webhook.

An alert holds the company, source, Dagster run id and a one-line reason, never an API key
(the reasons come from sync logs and Dagster failure events, which never hold one). The
webhook URL (it may embed a token) is read from ``INVOICE_PIPELINE_ALERT_WEBHOOK`` through
``dg.EnvVar``, so it is neither stored in the code location's snapshot nor logged.
"""

import logging
import os
from dataclasses import asdict, dataclass
from typing import Protocol

import dagster as dg
import httpx

WEBHOOK_ENV = "INVOICE_PIPELINE_ALERT_WEBHOOK"
REASON_MAX = 300

logger = logging.getLogger("invoice_pipeline.alerts")


def one_line(text: str | None, limit: int = REASON_MAX) -> str:
    """``text`` on one line (its lines joined), cut to ``limit`` characters."""
    line = " ".join(part.strip() for part in (text or "").splitlines() if part.strip())
    line = line or "no reason given"
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class Alert:
    company_id: str
    source: str
    run_id: str
    reason: str

    @property
    def line(self) -> str:
        return (
            f"ALERT sync failed: company={self.company_id} source={self.source} "
            f"run={self.run_id} reason={self.reason}"
        )


class Notifier(Protocol):
    def notify(self, alert: Alert) -> None: ...


class LogNotifier(dg.ConfigurableResource):
    """The default: the alert goes to the ``invoice_pipeline.alerts`` logger only."""

    def notify(self, alert: Alert) -> None:
        logger.error(alert.line)


class WebhookNotifier(dg.ConfigurableResource):
    """POSTs each alert as JSON (``text`` plus the fields); failures are logged, not raised."""

    url: str
    timeout_s: float = 5.0

    def notify(self, alert: Alert) -> None:
        try:
            response = httpx.post(
                self.url, json={"text": alert.line, **asdict(alert)}, timeout=self.timeout_s
            )
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:  # the message would name the URL: leave it out
            logger.warning("alert webhook answered %s", exc.response.status_code)
        except httpx.HTTPError as exc:
            logger.warning("alert webhook failed: %s", type(exc).__name__)


def notifier_from_env() -> LogNotifier | WebhookNotifier:
    """The webhook notifier when ``INVOICE_PIPELINE_ALERT_WEBHOOK`` is set, else the log."""
    if os.environ.get(WEBHOOK_ENV):
        return WebhookNotifier(url=dg.EnvVar(WEBHOOK_ENV))
    return LogNotifier()
