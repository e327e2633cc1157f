"""Root conftest: loads the suite's plugin so --env is known wherever pytest is started."""

# Listed in dependency order so pytest imports (and assertion-rewrites) each one first.
pytest_plugins = [
    "fixtures.environment",
    "fixtures.measurements",
    "fixtures.evidence",
    "fixtures.targets",
    "fixtures.governance",
    "fixtures.backups",
    "fixtures.drill",
    "fixtures.plugin",
    "fixtures.reporting",
    "reports.collector_plugin",
    "reports.compliance_plugin",
]
