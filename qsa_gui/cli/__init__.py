"""`qsa`: the command-line shell over the core jobs (one module per group of commands).

Bad input exits with status 2 and one line on stderr; Ctrl-C cancels the running job at its next
safe point, which leaves the project as it was before the job started (a second Ctrl-C quits at
once, status 130). A closed output pipe (``qsa status p | head``) ends the command quietly.
"""

import sys

try:  # Ctrl-C while the commands' modules load (a first run compiles them: seconds) is quiet too
    from .main import build_parser, main
except KeyboardInterrupt:
    print("qsa: cancelled with Ctrl-C", file=sys.stderr)
    raise SystemExit(130) from None

__all__ = ["build_parser", "main"]
