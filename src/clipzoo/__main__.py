"""``python -m clipzoo``: the same as the ``clipzoo`` command."""

import sys

from .cli import main

sys.exit(main())
