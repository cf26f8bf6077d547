"""``emulator billingo`` / ``emulator billx``: serve a bundled API emulator in the foreground."""

import click


@click.group()
def emulator() -> None:
    """Bundled API emulators for demos, tests and benchmarks (127.0.0.1 only)."""


@emulator.command("billingo")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 = a free port."
)
@click.option("--docs", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--rate-limit", type=click.IntRange(min=1), default=None, help="Requests per minute per key."
)
@click.option(
    "--api-key", default="demo-billingo-key", show_default=True, help="The key clients must send."
)
def billingo(
    port: int, docs: int, seed: int, latency_ms: int, rate_limit: int | None, api_key: str
) -> None:
    """Serve N deterministic documents until interrupted."""
    from invoice_pipeline.emulators.billingo import serve_billingo

    serve_billingo(
        port=port,
        docs=docs,
        seed=seed,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        api_key=api_key,
    )


@emulator.command("billx")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 = a free port."
)
@click.option(
    "--docs", type=click.IntRange(min=0), default=1000, show_default=True, help="Invoices."
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--rate-limit", type=click.IntRange(min=1), default=None, help="Requests per minute per key."
)
@click.option(
    "--key",
    default="demo-billx-key",
    show_default=True,
    help="The Bearer key of the account (the public test key is served as well).",
)
def billx(
    port: int, docs: int, seed: int, latency_ms: int, rate_limit: int | None, key: str
) -> None:
    """Serve N deterministic invoices (and the public test-mode key) until interrupted."""
    from invoice_pipeline.emulators.billx import serve_billx

    serve_billx(
        port=port,
        invoices=docs,
        seed=seed,
        latency_ms=latency_ms,
        rate_limit=rate_limit,
        api_key=key,
    )
