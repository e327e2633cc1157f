"""The checks: one module per runbook area, each test verifies one runbook sentence."""
