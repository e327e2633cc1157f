"""Builders that turn run results into reports and alert payloads."""
