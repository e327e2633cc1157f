"""``lms-opscheck``: the checks, from any folder, with any pytest option passed through.

    lms-opscheck -m daily --env prod --textfile /var/lib/node_exporter/opscheck.prom
    lms-opscheck -m weekly --env /etc/lms/prod.yaml --compliance-report --out /srv/opscheck/prod/w48

It runs pytest on the checks shipped in this package with the package's own pytest.ini (a
pytest.ini or pyproject.toml in the working folder is never read) and only the plugins the
suite needs: the machine's other pytest plugins are not loaded (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``),
xdist only when ``-n``/``--dist`` asks for it. Add one with ``-p NAME`` if you need it.
Run folders default to ``./out/<env>/<timestamp>`` under the working folder.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).parent  # not resolved: node ids stay checks/test_x.py in a checkout too
CHECKS = PACKAGE / "checks"
INI = PACKAGE / "pytest.ini"
PLUGINS = ("lms_opscheck.plugin", "allure_pytest.plugin")
_XDIST_OPTIONS = ("-n", "--numprocesses", "--dist", "--tx", "-d", "--maxprocesses")


def wants_xdist(args: Sequence[str]) -> bool:
    return any(
        a == o or a.startswith(f"{o}=") or (o == "-n" and a.startswith("-n"))
        for a in args
        for o in _XDIST_OPTIONS
    )


def plugin_names(args: Sequence[str]) -> list[str]:
    return [*PLUGINS, *(("xdist.plugin",) if wants_xdist(args) else ())]


def pytest_args(args: Sequence[str]) -> list[str]:
    """The full pytest command line for the user's ``args``."""
    fixed = [f"--rootdir={PACKAGE}", "-c", str(INI), "--assert=plain"]
    for plugin in plugin_names(args):
        fixed += ["-p", plugin]
    return [*fixed, *args, str(CHECKS)]


def plugin_modules(args: Sequence[str]) -> list[ModuleType]:
    """The plugins ``-p`` names and the modules their ``pytest_plugins`` list, imported.

    Handed to pytest as objects they are registered by name before the ``-p`` options and the
    ``pytest_plugins`` lists are read: pytest then finds each one registered instead of
    searching every installed distribution's entry points for its name (once per name, 25
    names: ~45 ms of a daily run). The ``-p`` options stay: xdist's workers load from them.
    """
    return [importlib.import_module(name) for name in _listed_first(plugin_names(args))]


def _listed_first(names: Sequence[str]) -> list[str]:
    """``names``, each after the modules its ``pytest_plugins`` lists (pytest registers it
    before them; only modules without hooks of their own list others, so hook order is kept)."""
    ordered: list[str] = []
    for name in names:
        listed = getattr(importlib.import_module(name), "pytest_plugins", [])
        for each in [*_listed_first([listed] if isinstance(listed, str) else listed), name]:
            if each not in ordered:
                ordered.append(each)
    return ordered


def main(argv: Sequence[str] | None = None) -> int:
    # Before pytest is imported: only the plugins named above are loaded, in every xdist worker
    # too (they inherit the environment).
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    # Start-up allocates a few hundred thousand long-lived objects (modules, models, pytest's
    # items): at the default threshold (700) the collector ran 285 times, ~0.12 s of a ~1.2 s
    # daily run; at 10,000, 78 times, ~0.05 s (bench/bench_daily.py). Reference counting still
    # frees everything else at once; only cycles wait a little longer.
    gc.set_threshold(10_000, 10, 10)
    import pytest

    args = list(sys.argv[1:] if argv is None else argv)
    return int(pytest.main(pytest_args(args), plugins=plugin_modules(args)))


if __name__ == "__main__":
    sys.exit(main())
