"""A pytest plugin that pins how concurrent runs interleave (``-p tests.support.gate``).

With ``$OPSCHECK_GATE`` set, a run that has joined the sandbox (configure is over) and has not
measured anything yet touches ``$OPSCHECK_GATE.reached``, then waits (60 s at most) until the
file ``$OPSCHECK_GATE`` exists. The runs stay real; only their order is chosen.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

WAIT_AT_MOST = 60.0


def pytest_collection_finish(session: pytest.Session) -> None:
    gate = os.environ.get("OPSCHECK_GATE")
    if not gate or hasattr(session.config, "workerinput"):
        return
    Path(f"{gate}.reached").touch()
    deadline = time.monotonic() + WAIT_AT_MOST
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
