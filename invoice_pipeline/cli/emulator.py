"""``emulator billingo`` / ``emulator billx``: serve a bundled API emulator in the foreground."""

from collections.abc import Callable
from typing import Any

import click


@click.group()
def emulator() -> None:
    """Bundled API emulators for demos, tests and benchmarks (127.0.0.1 only)."""


def _serving_options(documents: str, default_key: str) -> Callable[[Any], Any]:
    """The options both emulators take; ``documents`` names what ``--docs`` counts."""
    options = [
        click.option(
            "--port", type=click.IntRange(0, 65535), default=0, show_default=True,
            help="0 = a free port.",
        ),
        click.option(
            "--docs", type=click.IntRange(min=0), default=1000, show_default=True, help=documents
        ),
        click.option("--seed", type=int, default=1, show_default=True),
        click.option(
            "--latency-ms", type=click.IntRange(min=0), default=0, show_default=True
        ),
        click.option(
            "--rate-limit", type=click.IntRange(min=1), default=None,
            help="Requests per minute per key.",
        ),
        click.option(
            "--api-key", default=default_key, show_default=True,
            help="The key clients must send (never printed).",
        ),
    ]  # fmt: skip

    def apply(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


@emulator.command("billingo")
@_serving_options("Documents.", "demo-billingo-key")
def billingo(
    port: int, docs: int, seed: int, latency_ms: int, rate_limit: int | None, api_key: str
) -> None:
    """Serve N deterministic documents until interrupted."""
    from invoice_pipeline.emulators.billingo import serve_billingo

    serve_billingo(
        port=port, docs=docs, seed=seed, latency_ms=latency_ms, rate_limit=rate_limit,
        api_key=api_key,
    )  # fmt: skip


@emulator.command("billx")
@_serving_options("Invoices.", "demo-billx-key")
def billx(
    port: int, docs: int, seed: int, latency_ms: int, rate_limit: int | None, api_key: str
) -> None:
    """Serve N deterministic invoices (and the public test-mode key) until interrupted."""
    from invoice_pipeline.emulators.billx import serve_billx

    serve_billx(
        port=port, invoices=docs, seed=seed, latency_ms=latency_ms, rate_limit=rate_limit,
        api_key=api_key,
    )  # fmt: skip
