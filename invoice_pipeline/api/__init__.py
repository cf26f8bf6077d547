"""The HTTP API (FastAPI): the seed service's endpoints over the query module and the
Dagster sync job. ``app.create_app()`` builds it; ``invoice-pipeline serve`` runs it.

Nothing is imported here, so the CLI can use ``api.tokens`` without loading FastAPI.
"""
