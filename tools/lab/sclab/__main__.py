"""python -m sclab: the lab CLI."""

import sys

from .cli import main

sys.exit(main())
