"""Atomic file writes, shared by checkpoints, data caches and benchmark results.

A file written here gets the permissions a plain `open(path, "w")` would give it: a new file
`0o666 & ~umask` (so `0o644` under the usual umask `022`, `0o664` under `002`), and a file that is replaced
keeps its mode (a results file made private with `chmod 600` stays private). The temporary file that
`tempfile.mkstemp` creates is always `0o600`; its mode is set before it is renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import stat
import tempfile
import threading

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux: `/proc/self/status`);
    elsewhere by setting and restoring it, under a lock (a file another thread creates in that instant
    could get the umask `0o077`)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _final_mode(path: pathlib.Path) -> int:
    """The mode `open(path, "w")` would leave: the existing file's permission bits, else `0o666 & ~umask`."""
    try:
        st = os.stat(path)
    except OSError:
        return 0o666 & ~current_umask()
    if stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode) & 0o777
    return 0o666 & ~current_umask()


def _set_mode(tmp: str | os.PathLike, mode: int, fd: int | None = None) -> None:
    if fd is not None and hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:
        os.chmod(tmp, mode)


def atomic_write(path: str | os.PathLike, *chunks: bytes) -> pathlib.Path:
    """Write `chunks` to `path` atomically: a temporary file in the same directory, flushed and fsynced,
    then `os.replace`d over `path` (and the directory fsynced, best effort). A reader sees the old file or
    the new one, never a partial one; a failed write leaves no temporary file behind. The file's mode is
    what `open()` would give (see the module's notes)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _final_mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _set_mode(tmp, mode, f.fileno())
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); best effort elsewhere
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """A temporary path next to `path` for a library that writes files itself (h5py, numpy); on success the
    temporary file gets the mode `open()` would give (see the module's notes) and is `os.replace`d over
    `path`, on failure it is removed."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        mode = _final_mode(path)
        with open(tmp, "rb+") as f:
            _set_mode(tmp, mode, f.fileno())  # set here: the writer may have created the file anew
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
