"""Alternating runs for the benches: noise on a shared machine hits every variant alike."""

from __future__ import annotations

import statistics
from collections.abc import Callable

Sample = tuple[float, str]  # seconds, and a note (exit code, errors) that must stay clean


def alternate(rounds: int, runs: dict[str, Callable[[], Sample]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in runs}
    notes: dict[str, set[str]] = {name: set() for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            seconds, note = run()
            samples[name].append(seconds)
            notes[name].add(note)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name in runs:
        print(f"  {name:<52} {medians[name]:7.3f} s   ({', '.join(sorted(notes[name]))})")
    return medians


def ratio(title: str, value: float, baseline: float, target: float | None = None) -> None:
    goal = f" (target <= {target:g}x)" if target else ""
    print(f"  -> {title}: {value / baseline:.2f}x{goal}")
