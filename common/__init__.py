"""The lowest layer: what trainer/, wallet/, devnet/ and practitioner/ all need.

    errors     UserError, the one base of every error whose message is shown as-is
    atomic     atomic file writes (temp file, fsync, rename, fsync the directory)
    paths      the data home: --home, else $QUARRY_HOME, else the per-user data dir
    artifacts  the committed compiled contracts (ABI, bytecode)

Standard library and platformdirs only; imports nothing of the project, so every layer may
import it (tests/test_layering.py checks).
"""
