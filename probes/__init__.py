"""Measuring logic: plain typed Python, no pytest."""
