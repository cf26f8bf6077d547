"""What a run in the CLI's process says on stderr: one line per message of our code.

Dagster's console logger prints a failed step or run with its stack trace. The CLI prints
every sync's result and the reason of each failure itself (``cli/sync.py``), so here
Dagster's own events (step failed, run failed) and its notes on the steps a failure left
unexecuted are left out, and each message of the project's code (a check that could not be
evaluated, ...) is one line:
``ERROR company_checks: check no_orphan_items could not be evaluated: Out of Memory ...``.
Runs launched from the UI or by the schedules keep Dagster's default loggers.
"""

import logging
import sys

import dagster as dg

LOGGER_KEY = "one_line"

# How Dagster begins its note on a step it did not run because one before it failed.
_SKIPPED = "Dependencies for step "


class _OneLine(logging.Filter):
    """Drops Dagster's events; keeps the first line of every other message, with its step."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None)
        if meta is None:
            return True
        message = str(meta.get("orig_message", ""))
        if meta.get("dagster_event") is not None or message.startswith(_SKIPPED):
            return False
        lines = message.strip().splitlines() or [""]
        step = meta.get("step_key")
        record.msg = f"{step}: {lines[0]}" if step else lines[0]
        record.args = None
        return True


@dg.logger(
    config_schema={"log_level": dg.Field(str, default_value="WARNING")},
    description="One line per message of the project's code on stderr; no Dagster events.",
)
def one_line_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("invoice_pipeline.run", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_OneLine())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger


LOGGERS = {"console": dg.colored_console_logger, LOGGER_KEY: one_line_logger}
"""The code location's loggers: Dagster's console logger, and ``one_line`` for the CLI."""
