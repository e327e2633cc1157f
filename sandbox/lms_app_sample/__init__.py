"""A sample of LMS application code that the sandbox scans with bandit (never imported)."""
