"""The compliance report renders in a real browser (headless Chromium): screenshot and PDF."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from lms_opscheck.reports import compliance
from tests.support.sample_runs import sample_history

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is absent")


def chromium(*args: str) -> None:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            timeout=90,
            check=True,
        )


def artifacts(tmp_path: Path) -> Path:
    """Where the screenshot is kept: $OPSCHECK_ARTIFACTS (CI uploads it) or the test's tmp dir."""
    folder = Path(os.environ.get("OPSCHECK_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_report_screenshot_and_print_to_pdf(tmp_path: Path) -> None:
    html, _ = compliance.write_report([sample_history(tmp_path / "runs")], tmp_path / "report")
    png, pdf = artifacts(tmp_path) / "compliance.png", tmp_path / "compliance.pdf"
    chromium("--window-size=1280,2400", f"--screenshot={png}", html.as_uri())
    chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri())
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 2400)
    assert png.stat().st_size > 50_000, "a blank page compresses to almost nothing"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    print(f"screenshot: {png}")
