"""`python -m devnet`: run the embedded network in the foreground (see devnet.launcher)."""

import sys

from devnet.launcher import main

sys.exit(main())
