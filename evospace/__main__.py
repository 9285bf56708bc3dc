"""``python -m evospace`` (and ``torchrun -m evospace``) run the CLI."""

import sys

from evospace.cli import main

sys.exit(main())
