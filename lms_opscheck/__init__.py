"""lms-opscheck: the LMS operational runbook as pytest checks.

The repository keeps its top-level folders (config/, probes/, fixtures/, checks/, reports/,
sandbox/, environments/); installed, they live under this one namespace so that generic names
never land in site-packages.
"""

import sys as _sys

# httpx imports its command-line client (click, rich, pygments: ~50 ms, a tenth of a scheduled
# run's start) whenever those happen to be installed, and falls back quietly when the import
# fails. The suite never uses that client: mark it absent unless something imported it already.
_sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
