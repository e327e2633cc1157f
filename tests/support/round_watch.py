"""pytest plugin for the self-tests: which early rounds were already under way when the first
check started, and which check that was (written to ``$OPSCHECK_ROUND_WATCH`` as JSON)."""

from __future__ import annotations

import json
import os

import pytest

from lms_opscheck.fixtures import early

_seen: dict[str, object] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _seen:
        started = item.config.stash.get(early.STARTED, {})
        _seen["first"] = item.nodeid
        _seen["running"] = {name: not future.done() for name, future in started.items()}
        with open(os.environ["OPSCHECK_ROUND_WATCH"], "w") as out:
            json.dump(_seen, out)
