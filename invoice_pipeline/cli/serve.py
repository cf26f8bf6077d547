"""``serve``: the HTTP API on uvicorn."""

import click

from invoice_pipeline import config, crypto


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8002, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI schema at /openapi.json, docs at /docs)."""
    import uvicorn  # imported late: the other commands do not need it

    from invoice_pipeline.api.app import create_app
    from invoice_pipeline.api.tokens import ensure_secret_file, secret_file

    if crypto.ensure_key_file():
        click.echo(f"created a local secret key in {config.key_file()} (mode 0600)", err=True)
    if ensure_secret_file():
        click.echo(f"created a JWT signing key in {secret_file()} (mode 0600)", err=True)
    app = create_app()
    # uvicorn's access log holds the request line only: never headers (the token), never bodies.
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
