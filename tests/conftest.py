"""Fixtures for the suite's own tests: real stacks to break, and checks run against them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import stack
from tests.support.stacks import isolated_stack


@pytest.fixture
def live_stack(tmp_path: Path) -> Iterator[stack.State]:
    """A fresh, healthy sandbox of this test's own, stopped afterwards."""
    root = tmp_path / "stack"
    with isolated_stack(root) as state:
        yield state


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.State]:
    """A healthy sandbox shared by a module's tests that only read from it (never break it)."""
    root = tmp_path_factory.mktemp("shared") / "stack"
    with isolated_stack(root) as state:
        yield state
