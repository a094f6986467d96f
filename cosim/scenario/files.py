"""Files a scenario (or the command line) names: checked to be regular files under a size cap
before anything reads them, and quoted in messages only as a short, escaped excerpt."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class InputFileError(ValueError):
    """A named input file that cannot be read safely; the message names it and why."""


def excerpt(text: object, limit: int = 40) -> str:
    """``text`` as a short escaped quote for a message (never a whole line of a file)."""
    s = str(text)
    return repr(s[:limit]) + ("…" if len(s) > limit else "")


def check_input_file(path: str | Path, what: str, max_bytes: int) -> Path:
    """``path`` as a Path once it is known to be a regular file (symbolic links followed) of
    at most ``max_bytes``; InputFileError naming ``what`` otherwise (a FIFO, a device such as
    /dev/zero, a folder, a NUL in the path, a file too large)."""
    if "\x00" in str(path):
        raise InputFileError(f"{what}: the path {excerpt(path)} contains a NUL character")
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputFileError(f"{p}: {what} not found") from None
    except OSError as exc:
        raise InputFileError(f"{p}: {what} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{p}: {what} must be a regular file (not a folder, FIFO or device)")
    if st.st_size > max_bytes:
        raise InputFileError(f"{p}: {what} is {st.st_size:,} bytes; at most {max_bytes:,} are read")
    return p
