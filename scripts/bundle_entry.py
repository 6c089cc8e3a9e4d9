"""The desktop bundle's one executable: the app, or one of the modules the app starts as a
child process of its own interpreter (`sys.executable -m MODULE`: the embedded network and the
encryption workers). A frozen executable has no `-m`, so it is dispatched here; any other
module name is refused rather than run."""

from __future__ import annotations

import runpy
import sys

CHILD_MODULES = {"devnet", "trainer._worker", "selftest"}


def _main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        if module not in CHILD_MODULES:
            print(f"error: this bundle runs only {', '.join(sorted(CHILD_MODULES))} with -m",
                  file=sys.stderr)
            return 2
        sys.argv = [sys.argv[0], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    from ui.app import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())
