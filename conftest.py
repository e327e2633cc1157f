"""Root conftest: intentionally empty.

The suite's plugin is registered by the installed package (``pytest11`` entry point
``lms_opscheck``), so every option works from any folder and with any argument order.
"""
