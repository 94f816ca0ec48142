"""The ``mrnngraph`` command line: one sub-command per job.

Each command group lives in its own module exposing ``register(subparsers)``;
the handlers return an exit code. Bad input never ends in a traceback: a circuit
error prints one line per problem and exits 1, so does a file that cannot be read;
a bad argument is a usage error (exit 2).

Start-up is part of the interface: a command imports only what it needs, when it
runs, so ``mrnngraph validate`` does not pay for torch or matplotlib. Only the
command group named on the command line is registered (all of them for ``--help``),
and the command modules import nothing heavy at module level.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import signal
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]

#: Modules of this package that add sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = ("files", "drawing", "training", "fitting")
#: The module that registers each sub-command, so a call loads only that one.
COMMANDS = {
    "convert": "files",
    "validate": "files",
    "info": "files",
    "draw": "drawing",
    "train": "training",
    "fit": "fitting",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command group, or with ``only`` of that module's commands."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="mrnngraph",
        description="Declare, check, convert, draw and train multi-region RNN circuits.",
    )
    parser.add_argument("--version", action="version", version=f"mrnngraph {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if only is None or name == only:
            importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _command_module(argv: Sequence[str]) -> str | None:
    # The first word that is not an option names the command (the top-level parser
    # takes no option with a value). Anything else gets the full parser and its help.
    for word in argv:
        if word == "--" or word in ("-h", "--help", "--version"):
            return None  # the top-level help lists every command
        if not word.startswith("-"):
            module = COMMANDS.get(word)
            return module if module in COMMAND_MODULES else None
    return None


def _os_message(err: OSError) -> str:
    """``'path': reason`` for an error of the operating system, on one line."""
    reason = err.strerror or _one_line(err)
    names = [n for n in (err.filename, err.filename2) if n is not None]
    if not names:
        return reason
    return f"{' -> '.join(repr(str(n)) for n in names)}: {reason}"


def _one_line(text: object) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


#: A header that only counts the problems (each problem already names its place).
_COUNT_HEADER = re.compile(r"\d+ problems? in (the circuit|'[^']*')")


def report_error(err: BaseException) -> None:
    """Print ``err`` on stderr without a traceback: one line per problem of a
    :class:`~mrnngraph.GraphError` (after a heading line when its header says more
    than the count and there are several), one line for anything else."""
    from ..errors import GraphError

    if isinstance(err, GraphError):
        lines = str(err).splitlines()
        head = lines[0].removesuffix(":") if lines else ""
        problems = [_one_line(p) for p in err.problems]
        if not problems:
            print(f"error: {_one_line(err) or 'invalid circuit'}", file=sys.stderr)
        elif _COUNT_HEADER.fullmatch(head):
            for p, text in zip(err.problems, problems, strict=True):
                print(f"{p.level}: {text}", file=sys.stderr)
        elif len(problems) == 1:
            print(f"error: {_one_line(head)}: {problems[0]}", file=sys.stderr)
        else:
            print(f"error: {_one_line(head)}:", file=sys.stderr)
            for text in problems:
                print(f"  - {text}", file=sys.stderr)
    elif isinstance(err, OSError):
        print(f"error: {_os_message(err)}", file=sys.stderr)
    else:
        print(f"error: {_one_line(err)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):
        # A region may be named with characters the terminal cannot encode (a lone
        # surrogate is a valid Python str): escape them rather than fail mid-table.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser(_command_module(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from ..errors import GraphError

    try:
        code = int(args.handler(args) or 0)
    except (GraphError, OSError) as err:
        report_error(err)
        return 1
    except RecursionError:
        # A reader that recursed on deeply nested input: bad input, not a bug to trace.
        print("error: the input is nested too deeply to read", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = INTERRUPTED[signal.SIGINT]
    if code in INTERRUPTED.values():
        _exit_now(code)
    return code


#: Exit status after an interrupt: 128 + the signal's number, as a shell reports it.
INTERRUPTED = {signal.SIGINT: 128 + signal.SIGINT, signal.SIGTERM: 128 + signal.SIGTERM}


def _exit_now(code: int) -> None:
    """Exit with ``code`` at once, once an interrupt has been handled (what exists written).

    CPython marks the interpreter as killed by Ctrl-C when the ``KeyboardInterrupt`` was
    raised inside ``exec`` (dataclasses run ``exec`` while torch imports its sub-modules),
    and then exits with -SIGINT whatever the command returned (measured: 3 of 24 SIGTERMs
    early in ``mrnngraph train``). Nothing is left to clean up here but the streams."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
