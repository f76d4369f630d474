"""``python -m qsa_gui.cli``: the same as the ``qsa`` script."""

import sys

from . import main

sys.exit(main())
