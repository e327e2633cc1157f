"""The pytest11 entry point: the suite's plugins, in dependency order."""

pytest_plugins = [
    "lms_opscheck.fixtures.rootdir",
    "lms_opscheck.fixtures.environment",
    "lms_opscheck.fixtures.measurements",
    "lms_opscheck.fixtures.evidence",
    "lms_opscheck.fixtures.targets",
    "lms_opscheck.fixtures.governance",
    "lms_opscheck.fixtures.backups",
    "lms_opscheck.fixtures.drill",
    "lms_opscheck.fixtures.logs",
    "lms_opscheck.fixtures.reviews",
    "lms_opscheck.fixtures.tls",
    "lms_opscheck.fixtures.security",
    "lms_opscheck.fixtures.hosts",
    "lms_opscheck.fixtures.plugin",
    # After plugin: its option check (tryfirst) then runs before the sandbox boots.
    "lms_opscheck.fixtures.deploy",
    "lms_opscheck.fixtures.verdict",
    "lms_opscheck.collector",
]
