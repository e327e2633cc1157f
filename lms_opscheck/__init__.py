"""lms-opscheck: the LMS operational runbook as pytest checks.

The repository keeps its top-level folders (config/, probes/, fixtures/, checks/, reports/,
sandbox/, environments/); installed, they live under this one namespace so that generic names
never land in site-packages.
"""
