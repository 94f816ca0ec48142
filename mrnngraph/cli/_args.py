"""Argument types for the command line: numbers checked when they are parsed.

A value outside its range is an ``argparse`` usage error (one line, exit status 2),
never a traceback from deep inside the command that would have used it.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["real", "integer", "seed_list", "output_file", "UsageError", "prepare_out", "MAX_SEEDS"]

#: The most members ``--seeds`` accepts: a typo such as ``0-10000`` for ``0-100`` is refused at
#: once instead of starting hours of training.
MAX_SEEDS = 1024


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _bounds(low: float | None, high: float | None, low_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {_num(low)}")
    if high is not None:
        parts.append(f"<= {_num(high)}")
    return " and ".join(parts)


def real(
    *, low: float | None = None, high: float | None = None, low_open: bool = True
) -> Callable[[str], float]:
    """An argparse ``type=``: a finite float ``> low`` (``>= low`` unless ``low_open``)
    and ``<= high``.

    Examples
    --------
    >>> dpi = real(low=0, high=1200)
    >>> dpi("300")
    300.0
    >>> dpi("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a finite number > 0 and <= 1200; got 'nan'
    """
    rule = " ".join(p for p in ("a finite number", _bounds(low, high, low_open)) if p)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}") from None
        below = low is not None and (value <= low if low_open else value < low)
        if not math.isfinite(value) or below or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}")
        return value

    parse.__name__ = "number"  # what argparse names the type in its own messages
    return parse


def integer(*, low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=``: a decimal integer ``>= low`` and ``<= high``.

    Examples
    --------
    >>> integer(low=0)("7")
    7
    >>> integer(low=0)("-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer >= 0; got '-1'
    """
    rule = " ".join(p for p in ("an integer", _bounds(low, high, False)) if p)

    def parse(text: str) -> int:
        # int() would accept 4,300 digits and more before failing slowly; a seed or
        # a count never needs more than a handful.
        if len(text.strip()) > 40:
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text[:20]!r}...")
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def seed_list(text: str) -> list[int]:
    """An argparse ``type=`` for ``--seeds``: ranges ``A-B`` (both ends included) and single
    seeds, separated by commas, e.g. ``0-3,7``; non-negative, ascending within a range, no
    seed twice, at most :data:`MAX_SEEDS` in all. The seeds in the order given.

    Examples
    --------
    >>> seed_list("0-3,7")
    [0, 1, 2, 3, 7]
    >>> seed_list("5-2")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: range '5-2' runs backwards: write '2-5'
    >>> seed_list("0-3,2")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: seed 2 is given twice (in '0-3' and '2')
    """
    form = "seeds as A-B (both included) or single seeds, separated by commas, e.g. '0-3,7'"
    if len(text) > 10_000:
        raise argparse.ArgumentTypeError(f"must be {form}; got {text[:20]!r}... (too long)")
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be {form}; got an empty list")
    seeds: list[int] = []
    where: dict[int, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise argparse.ArgumentTypeError(f"must be {form}; got an empty item in {text!r}")
        if part.startswith("-"):
            raise argparse.ArgumentTypeError(f"seeds must be >= 0; got {part!r}")
        lo_text, dash, hi_text = part.partition("-")
        if hi_text.startswith("-"):
            raise argparse.ArgumentTypeError(f"seeds must be >= 0; got {part!r}")
        try:
            if len(lo_text) > 20 or len(hi_text) > 20:
                raise ValueError
            lo = int(lo_text)
            hi = int(hi_text) if dash else lo
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {form}; got {part!r}") from None
        if hi < lo:
            raise argparse.ArgumentTypeError(f"range {part!r} runs backwards: write '{hi}-{lo}'")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} seeds; {text!r} asks for more")
        for s in range(lo, hi + 1):
            if s in where:
                raise argparse.ArgumentTypeError(
                    f"seed {s} is given twice (in {where[s]!r} and {part!r})"
                )
            where[s] = part
            seeds.append(s)
    return seeds


seed_list.__name__ = "seed list"


def output_file(text: str) -> str:
    """An argparse ``type=`` for a file to write: not a directory, in a directory that
    exists, so that a command finds a bad output path before it does its work.

    Examples
    --------
    >>> output_file("/")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '/' is a directory
    """
    if not text:
        raise argparse.ArgumentTypeError("the file name is empty")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        # Name the part of the path that is missing or is not a directory.
        up = parent
        while not os.path.exists(up) and os.path.dirname(up) != up:
            up = os.path.dirname(up)
        if os.path.isdir(up):
            missing = parent[len(up) :].lstrip(os.sep).split(os.sep)[0]
            raise argparse.ArgumentTypeError(
                f"cannot write {text!r}: there is no directory {os.path.join(up, missing)!r}"
            )
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {up!r} is not a directory")
    return text


class UsageError(Exception):
    """A problem with a command's arguments or data found after parsing: one line, exit 1."""


def prepare_out(out: Path) -> None:
    """Create a command's output folder before any work: an unusable ``--out`` (an existing
    file, a path under a file, a folder that cannot be written) stops the command at once."""
    for place in (out, *out.parents):
        if place.exists() and not place.is_dir():
            where = "" if place == out else f" ({str(place)!r} is a file)"
            raise UsageError(f"--out {str(out)!r} cannot be a folder: a file is in the way{where}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(
            f"--out {str(out)!r}: cannot create the folder: {err.strerror or err}"
        ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {str(out)!r}: the folder is not writable")
