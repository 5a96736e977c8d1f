"""`python3 -m fluxkit.figures --config FILE`: see fluxkit/figures/__init__.py."""
import sys

from . import main

sys.exit(main())
