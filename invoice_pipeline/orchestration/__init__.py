"""Dagster assets shared by every source: the normalized tables and the sync log."""
