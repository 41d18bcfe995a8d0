"""Shared command-line behaviour (SPEC §6): exit 0 on success, 2 with one line for bad input, 1 otherwise."""
from __future__ import annotations

import os
import sys
import traceback

from .configtools import UserError

USAGE_FLAGS = ("-h", "--help")


def run_main(main, argv: list[str] | None = None, usage="") -> int:
    """Call `main(args)`; a UserError becomes one stderr line and exit 2, no traceback.

    `--debug` (or CATHOLIC2GOGH_DEBUG=1) shows the traceback of any error.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("CATHOLIC2GOGH_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    if any(a in USAGE_FLAGS for a in args):
        print((usage() if callable(usage) else usage).strip())  # a callable: built only when asked for
        return 0
    try:
        main(args)
        return 0
    except UserError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # unexpected: keep the traceback, it is a bug or an environment problem
        if raised_by_an_interrupt(exc) and not debug:
            # Ctrl+C inside a library that failed while cleaning up after it (SQLAlchemy rolling back an
            # interrupted migration raises its own error): the user stopped the command, nothing broke
            print("interrupted", file=sys.stderr)
            return 130
        traceback.print_exc()
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1


def raised_by_an_interrupt(exc: BaseException) -> bool:
    """True if a KeyboardInterrupt is among the exceptions `exc` was raised while handling."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False

