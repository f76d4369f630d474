"""One writer per project folder, arbitrated by the OS.

The lock is an ``flock`` on ``.lock``, held on a file descriptor kept open for the project's
lifetime; the file's JSON record (pid, host, time) only serves messages. The kernel drops the
lock when its process dies, so a record left by a dead process is harmless and no takeover
(delete + recreate, racy between several openers) is ever needed. Release unlinks the file
while still holding it; an opener that locked an unlinked inode notices (the path now names
another inode or none) and retries.

A job process started by the holder (the GUI's worker, :mod:`qsa_gui.core.worker`) takes no
lock of its own: :func:`verify_held_by` proves that the lock is held and that its record names
the holder, so the holder keeps it for the job's whole duration and no other writer slips in.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import ProjectError
from .records import LOCK_FILE

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True


def _read_record(fd: int) -> dict[str, Any] | None:
    """The holder's record, or None while it is empty or unreadable (being written)."""
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return info if isinstance(info, dict) else None


def _describe(info: dict[str, Any]) -> tuple[str, str]:
    """(pid, host) as short printable strings, whatever the record holds (e.g. a pid of 2**64)."""
    pid, host = info.get("pid"), info.get("host")
    pid_s = str(pid) if isinstance(pid, int) and not isinstance(pid, bool) else "?"
    host_s = host if isinstance(host, str) else ""
    return pid_s[:40], "".join(ch for ch in host_s if ch.isprintable())[:100]


def verify_held_by(folder: Path, pid: int) -> None:
    """Raise ProjectError unless ``folder``'s lock is held right now by process ``pid``.

    Why: a worker process writes a project under its parent's lock. A second ``flock`` on a new
    open file description conflicts with the holder's, so failing to take it proves someone holds
    it, and the record (written by the holder under its lock) says who.
    """
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        raise ProjectError(
            f"{folder}: the project is not locked by the window that started this job ({e.strerror or e})"
        ) from e
    try:
        if _try_lock(fd):  # nobody holds it: the holder closed the project meanwhile
            raise ProjectError(f"{folder}: the project is no longer open in the window that started this job")
        info = _read_record(fd)
        holder = info.get("pid") if info is not None else None
        if holder != pid:
            raise ProjectError(f"{folder}: the project is locked by pid {holder}, not by pid {pid}")
    finally:
        os.close(fd)  # closing drops a lock taken above (and only that one)


class ProjectLock:
    """The write lock of one project folder (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise a ProjectError saying who holds it."""
        host = socket.gethostname()
        for _attempt in range(50):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as e:
                raise ProjectError(f"{self.folder}: cannot create lock file ({e.strerror or e})") from e
            try:
                if not self._lock_fd(fd, host):
                    continue  # locked a file that was unlinked meanwhile: retry on the new one
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return
        raise ProjectError(f"{self.folder}: could not take the project lock ({self.path})")

    def _lock_fd(self, fd: int, host: str) -> bool:
        try:
            got = _try_lock(fd)
        except OSError as e:
            raise ProjectError(f"{self.folder}: cannot lock {self.path} ({e.strerror or e})") from e
        if not got:
            info = _read_record(fd)
            if info is None:
                raise ProjectError(f"{self.folder} is being opened by another window")
            pid, lock_host = _describe(info)
            where = f"pid {pid} on {lock_host}" if lock_host and lock_host != host else f"pid {pid}"
            raise ProjectError(f"{self.folder} is open in another window ({where})")
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return False
        info = _read_record(fd)
        if info is not None:
            pid, lock_host = _describe(info)
            if lock_host and lock_host != host:  # its flock may not reach us over a network mount
                raise ProjectError(
                    f"{self.folder} is open in another window (pid {pid} on {lock_host}); "
                    f"close it there, or delete {self.path} if that computer is off"
                )
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        payload = json.dumps({"pid": os.getpid(), "host": host, "time": stamp}).encode()
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            if os.write(fd, payload) != len(payload):
                raise OSError(errno.ENOSPC, "short write")
            os.fsync(fd)
        except OSError as e:  # e.g. a full disk: leave no empty lock file behind
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            raise ProjectError(f"{self.folder}: cannot write the lock file ({e.strerror or e})") from e
        return True

    def release(self) -> None:
        """Remove the lock file (while still holding it) and let go."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    os.unlink(self.path)
        finally:
            os.close(fd)
