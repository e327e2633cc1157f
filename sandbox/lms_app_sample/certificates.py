"""Course-completion certificates as PDFs: sample code for the sandbox's weekly bandit scan.

It carries one deliberate finding, bandit B602 (a shell command built from input: HIGH severity,
HIGH confidence), which environments/sandbox.yaml waives by finding
(``B602:lms_app_sample/certificates.py:18``) with a ticket and an expiry. Moving the call
moves the finding: the waiver then no longer matches and SEC-03 fails, as it would in the LMS.
"""

from __future__ import annotations

import subprocess


def render_pdf(html_path: str, pdf_path: str) -> int:
    """Render one certificate with wkhtmltopdf (the sandbox never calls this)."""
    command = f"wkhtmltopdf --quiet {html_path} {pdf_path}"
    # Deliberate: a waived finding the security checks must list, not hide.
    return subprocess.call(command, shell=True)
