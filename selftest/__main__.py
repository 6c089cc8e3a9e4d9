"""`python -m selftest`: see the package docstring."""

import sys

from selftest import main

sys.exit(main())
