"""Embedded local LMS-like stack for --env sandbox and the self-tests."""
