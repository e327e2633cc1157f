"""Fixtures for the suite's own tests: real stacks to break, and checks run against them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from lms_opscheck.sandbox import stack
from tests.support.stacks import isolated_stack, private_root


@contextmanager
def _stack_outside_pytest_tmp() -> Iterator[stack.State]:
    with private_root() as root, isolated_stack(root) as state:
        yield state


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
