"""Writing files without ever leaving a partial one behind."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write"]


def _create_temporary(directory: Path, name: str) -> tuple[int, Path]:
    """A new file next to the target, created as ``open()`` would (umask applies)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file next to {name!r} in {directory}")


def atomic_write(
    path: str | os.PathLike, write: Callable[[Any], None], *, binary: bool = False
) -> None:
    """Call ``write(fh)`` on a temporary file next to ``path``, then move it into place.

    A failure anywhere (also in ``write``) leaves ``path`` as it was. A new file gets
    the permissions a plain ``open()`` would give it; an existing file keeps its own
    (a private ``0600`` file stays private). A symbolic link is written through, as
    ``open()`` does: the file it points to is replaced, the link stays.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, lambda fh: fh.write("hello"))
    >>> p.read_text()
    'hello'
    """
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = _create_temporary(directory, target.name)
    try:
        kwargs = {} if binary else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, "wb" if binary else "w", **kwargs) as fh:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
