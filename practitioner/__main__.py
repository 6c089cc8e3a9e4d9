import sys

from practitioner.cli import main

sys.exit(main())
