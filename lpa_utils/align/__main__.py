"""``python -m lpa_utils.align``: the command-line aligner (see :mod:`lpa_utils.align.cli`)."""

import sys

from lpa_utils.align.cli import main

sys.exit(main())
