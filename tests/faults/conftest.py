"""Fault-injection tests: private stacks start without Prometheus unless a test asks for one.

A fresh Prometheus publishes its scrape targets only ~5 s after it starts; the monitoring tests
start their own (tests/support/prometheus.py), every other stack is spared the wait.
"""

from __future__ import annotations

import os

from lms_opscheck.sandbox.monitoring import SWITCH

os.environ.setdefault(SWITCH, "off")
