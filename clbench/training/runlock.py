"""One process at a time per run: an exclusive lock file beside the run's checkpoint, so that two
workers handed the same run (a sweep started twice, a requeued job while the first still runs) never
train it at once. The operating system drops the lock when its holder exits, even by SIGKILL."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

# Exit code of `clbench run` when every run it was asked for is being trained by another process
# (EX_TEMPFAIL: try again later).
ALREADY_RUNNING = 75


class RunLock:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Takes the lock without waiting; False when another process holds it."""
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except FileNotFoundError:
                continue  # another holder's release removed the empty folder meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            if self._still_the_file(fd):
                self._fd = fd
                return True
            os.close(fd)  # its holder removed the file between our open and our lock: take the new one

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # removed while still held, so nobody locks a stale file
            os.close(self._fd)
            self._fd = None
            try:
                self.path.parent.rmdir()  # a run leaves no empty folder behind
            except OSError:
                pass  # not empty: checkpoints or other runs' locks

    def _still_the_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False


def lock_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_suffix(".lock")
