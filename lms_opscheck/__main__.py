"""``python -m lms_opscheck``: the same as the ``lms-opscheck`` command."""

import sys

from lms_opscheck.cli import main

sys.exit(main())
