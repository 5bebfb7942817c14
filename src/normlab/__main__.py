"""Allow ``python -m normlab``."""

import sys

from normlab.cli import main

sys.exit(main())
