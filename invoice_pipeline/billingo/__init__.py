"""Billingo API v3: client, validation model, field mapping, Dagster assets."""
