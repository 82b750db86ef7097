"""``python -m local_stack run|serve|trigger|cleanup`` -- see local_stack.cli."""

from __future__ import annotations

import sys

from local_stack.cli import main

sys.exit(main())
