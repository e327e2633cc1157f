"""Streaming reader of LMS logs: one pass over a location's window serves every log check.

``scan_location(shell, location, policy, windows)`` lists the location's files (rotations and
gzip included, locally or over ssh), reads only the windows asked for, and returns a
:class:`LogScan` of frozen :class:`LogWindow` measurements: how much was examined (files,
bytes, lines, first/last/newest timestamp, lines that could not be placed), the error lines
(:class:`ErrorSummary`) and the suspicious answers (:class:`AccessSummary`). Rules: scan.py
(windowing), analysis.py (bursts, lockouts, scanners), lines.py (formats), docs/logs.md.
"""

from lms_opscheck.probes.logs.analysis import AccessSummary, ErrorSummary, Served, Signal
from lms_opscheck.probes.logs.scan import scan_location
from lms_opscheck.probes.logs.tally import Peak
from lms_opscheck.probes.logs.window import LogScan, LogWindow

__all__ = [
    "AccessSummary",
    "ErrorSummary",
    "LogScan",
    "LogWindow",
    "Peak",
    "Served",
    "Signal",
    "scan_location",
]
