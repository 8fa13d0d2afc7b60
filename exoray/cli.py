"""The ``exoray`` command line: one entry point, one subcommand per action.

Each stage package contributes its subcommands through a ``commands`` module
that exposes ``register(subparsers)``; heavy imports stay inside the command
functions so ``exoray --help`` is instant.  The table below is the only link:
the CLI imports the command modules, and they never import this module back
(the helpers they share are in :mod:`exoray.cliutil`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from ._version import __version__
from .errors import ExorayError

#: Modules whose ``register(subparsers)`` adds subcommands, in help order.
COMMAND_MODULES = [
    "exoray.pipelines.commands",  # demo, sweep, report
    "exoray.simulate.commands",  # simulate
    "exoray.ingest.commands",  # fetch, fetch-sector
    "exoray.pipelines.ranker_commands",  # train ranker
    "exoray.rank.commands",  # label
    "exoray.training.commands",  # train {autoencoder,transformer,gan,classifier}, tune
    "exoray.models.commands",  # models
    "exoray.training.evaluate_commands",  # evaluate anomaly/transfer/augmentation, export
    "exoray.serve.commands",  # serve, dashboard
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exoray",
        description="Find exoplanet transits in TESS light curves, distributed on Ray.",
    )
    parser.add_argument("--version", action="version", version=f"exoray {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a stage not built yet must not break the CLI
            if not (exc.name and (name == exc.name or name.startswith(exc.name + "."))):
                raise
            continue
        mod.register(sub)
    return parser


#: OS errors a user causes with the paths they pass (reported in one line, not a traceback).
_USER_OS_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)

_OS_HINTS = {
    FileNotFoundError: "check the path",
    FileExistsError: "it is in the way: choose another path or remove it",
    NotADirectoryError: "a folder was expected there: choose another path",
    IsADirectoryError: "a file was expected there, not a folder",
    PermissionError: "check its permissions",
}


def _os_error_text(exc: OSError) -> str:
    """``path: what is wrong; what to do`` for an OS error (exoray's own messages are kept as they are)."""
    if exc.filename is None or exc.strerror is None:
        return str(exc)  # raised by exoray with its own message, which names the path
    hint = next((h for cls, h in _OS_HINTS.items() if isinstance(exc, cls)), "")
    return f"{exc.filename}: {exc.strerror.lower()}" + (f"; {hint}" if hint else "")


def _print_error(args, message: str) -> None:
    """``exoray COMMAND: error: MESSAGE`` on one line, as argparse reports usage errors."""
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"exoray {args.command}: error: {one_line}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2) if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except ExorayError as exc:
        _print_error(args, str(exc))
        return 1
    except _USER_OS_ERRORS as exc:
        # A path the user gave that is missing, in the way or of the wrong kind: the
        # message names it; a traceback would only hide that line.
        _print_error(args, _os_error_text(exc))
        return 1
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
