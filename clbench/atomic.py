"""Atomic file writes: a temporary file beside the target, then a rename. Readers never see half a file.
The file gets the permissions a plain open() would give it (0666 less the umask), not mkstemp's 0600,
so that records and checkpoints stay readable by the user's group."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from clbench.errors import UsageError


def write_bytes_atomically(path: Path, data: bytes) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"cannot write to {path.parent}: {exc.strerror}; choose a writable directory") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    write_bytes_atomically(path, text.encode())


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask
