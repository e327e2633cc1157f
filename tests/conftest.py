"""Fixtures for the suite's own tests: real stacks to break, and checks run against them."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lms_opscheck.sandbox import stack
from tests.support.stacks import isolated_stack


@contextmanager
def _stack_outside_pytest_tmp() -> Iterator[stack.State]:
    # PostgreSQL runs as `nobody`; every pytest start resets /tmp/pytest-of-root to 0700,
    # which would cut a running server off its data folder. Stacks live in their own folder.
    root = Path(tempfile.mkdtemp(prefix="opscheck-stack-"))
    root.chmod(0o755)
    try:
        with isolated_stack(root / "stack") as state:
            yield state
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def live_stack() -> Iterator[stack.State]:
    """A fresh, healthy sandbox of this test's own, stopped afterwards."""
    with _stack_outside_pytest_tmp() as state:
        yield state


@pytest.fixture(scope="module")
def shared_stack() -> Iterator[stack.State]:
    """A healthy sandbox shared by a module's tests that only read from it (never break it)."""
    with _stack_outside_pytest_tmp() as state:
        yield state
