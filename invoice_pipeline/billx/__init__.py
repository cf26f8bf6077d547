"""BillX API v1.0: client, validation models, field mapping, catalog, Dagster asset."""
