"""`python -m wallet.cli ...` runs the `quarry` command line."""

from wallet.cli import main

raise SystemExit(main())
