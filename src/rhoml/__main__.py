"""``python -m rhoml``: the same as the ``rhoml`` command."""

import sys

from rhoml.cli import main

sys.exit(main())
