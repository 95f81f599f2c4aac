"""`python -m clbench`: the command line, as the `clbench` script runs it."""

import sys

from clbench.cli import main

sys.exit(main())
