"""The Alembic graph read from revision files with ``ast``: heads, merges, branches, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_opscheck.probes.alembic import migration_graph, parse_revision
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.nodata import NoData
from lms_opscheck.sandbox.schema import ALEMBIC_REVISION
from lms_opscheck.sandbox.state import MIGRATIONS


def revision_file(folder: Path, rid: str, down: str, *, annotated: bool = False) -> Path:
    """A revision file as ``alembic revision`` writes it; ``down`` is Python source."""
    hint = ": str | tuple[str, ...] | None" if annotated else ""
    path = folder / f"{rid}.py"
    path.write_text(
        f'"""{rid}."""\nfrom alembic import op\nimport sqlalchemy as sa\n\n'
        f'revision = "{rid}"\ndown_revision{hint} = {down}\nbranch_labels = None\n\n'
        "def upgrade() -> None:\n    op.execute('SELECT 1')\n"
    )
    return path


def test_the_sandbox_sample_has_one_head_through_a_merge() -> None:
    graph = migration_graph(MIGRATIONS)
    assert graph.heads == (ALEMBIC_REVISION,)
    assert len(graph.revisions) == 13 and graph.missing == ()
    merge = next(r for r in graph.revisions if r.id == "0010_merge_tokens_and_audit")
    assert merge.down == ("0008_refresh_tokens", "0009_audit_logs")


def test_a_linear_chain_has_its_last_revision_as_head(tmp_path: Path) -> None:
    revision_file(tmp_path, "a1", "None")
    revision_file(tmp_path, "b2", '"a1"', annotated=True)
    revision_file(tmp_path, "c3", "'b2'")
    assert migration_graph(tmp_path).heads == ("c3",)


def test_two_revisions_on_one_parent_are_two_heads_and_a_merge_joins_them(tmp_path: Path) -> None:
    revision_file(tmp_path, "a1", "None")
    revision_file(tmp_path, "b2", '"a1"')
    revision_file(tmp_path, "c3", '"a1"')
    assert migration_graph(tmp_path).heads == ("b2", "c3")
    revision_file(tmp_path, "d4", '("b2", "c3")')
    graph = migration_graph(tmp_path)
    assert graph.heads == ("d4",) and graph.head == "d4"


def test_a_list_down_revision_and_a_missing_parent_are_read(tmp_path: Path) -> None:
    revision_file(tmp_path, "b2", '["a1", "x0"]')
    graph = migration_graph(tmp_path)
    assert graph.heads == ("b2",) and graph.missing == ("a1", "x0")


def test_helper_files_without_revision_are_ignored_and_never_imported(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("raise SystemExit('imported!')\n")
    revision_file(tmp_path, "a1", "None")
    assert migration_graph(tmp_path).heads == ("a1",)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("revision = make_id()\ndown_revision = None\n", "revision is not a string literal"),
        ("revision = 'a'\ndown_revision = 5\n", "down_revision is not a string, None"),
        ("revision = 'a'\ndef broken(:\n", "not valid Python (line 2)"),
    ],
)
def test_a_revision_file_that_cannot_be_read_statically_is_unreadable(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad.py"
    path.write_text(content)
    with pytest.raises(Unreadable, match=r"bad\.py") as caught:
        parse_revision(path)
    assert problem in caught.value.problem


def test_an_empty_folder_or_one_without_revisions_is_no_data(tmp_path: Path) -> None:
    with pytest.raises(NoData, match="no revision files"):
        migration_graph(tmp_path)
    (tmp_path / "env.py").write_text("x = 1\n")
    with pytest.raises(NoData, match=r"1 \.py files, none assigns revision"):
        migration_graph(tmp_path)


def test_a_missing_folder_or_a_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(Unreadable, match="cannot list the folder"):
        migration_graph(tmp_path / "absent")
    (tmp_path / "file").write_text("")
    with pytest.raises(Unreadable, match="cannot list the folder"):
        migration_graph(tmp_path / "file")


def test_a_revision_defined_twice_or_a_cycle_is_unreadable(tmp_path: Path) -> None:
    revision_file(tmp_path, "a1", '"b2"')
    revision_file(tmp_path, "b2", '"a1"')
    with pytest.raises(Unreadable, match="cycle"):
        migration_graph(tmp_path)
    (tmp_path / "copy.py").write_text((tmp_path / "a1.py").read_text())
    with pytest.raises(Unreadable, match="a1 is defined twice"):
        migration_graph(tmp_path)
