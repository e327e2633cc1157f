"""Helpers for the suite's own tests: isolated real stacks, and running the suite against them."""
