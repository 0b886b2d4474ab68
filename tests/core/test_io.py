"""Atomic writes: the final file has the mode a plain `open()` would give it, whatever `mkstemp` made."""

import contextlib
import os
import stat

import numpy as np
import pytest

from scimlx.core._io import atomic_path, atomic_write, current_umask


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize(
    "mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)], ids=["022", "002", "077"]
)
def test_new_files_follow_the_umask(tmp_path, mask, expected):
    with umask(mask):
        assert current_umask() == mask
        p = atomic_write(tmp_path / "a.bin", b"abc")
        assert mode(p) == expected and p.read_bytes() == b"abc"
        with atomic_path(tmp_path / "b.npy") as tmp:
            with open(tmp, "wb") as f:  # a library that opens the path itself
                np.save(f, np.arange(3))
        assert mode(tmp_path / "b.npy") == expected
        np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), np.arange(3))
        with atomic_path(tmp_path / "c.bin") as tmp:  # one that makes the file anew, private
            tmp.unlink()
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600)
            os.write(fd, b"c")
            os.close(fd)
        assert mode(tmp_path / "c.bin") == expected
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_replaced_file_keeps_its_mode(tmp_path):
    with umask(0o022):
        p = atomic_write(tmp_path / "results.json", b"1")
        os.chmod(p, 0o600)  # made private by its owner: replacing it keeps it private
        atomic_write(p, b"2")
        assert mode(p) == 0o600 and p.read_bytes() == b"2"
        with atomic_path(p) as tmp:
            tmp.write_bytes(b"3")
        assert mode(p) == 0o600 and p.read_bytes() == b"3"


def test_failed_writes_leave_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_umask_without_proc(monkeypatch):
    """Where `/proc/self/status` cannot be read, the umask is read by setting and restoring it."""
    import scimlx.core._io as io_module

    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(io_module, "open", no_proc, raising=False)
    with umask(0o027):
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # left as it was


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664)], ids=["022", "002"])
def test_checkpoints_follow_the_umask(tmp_path, mask, expected):
    import jax.numpy as jnp

    from scimlx.train import load_checkpoint, save_checkpoint

    with umask(mask):
        p = save_checkpoint(tmp_path / "ckpt" / "step.ckpt", {"w": jnp.arange(3.0)}, {"step": 1})
    assert mode(p) == expected
    assert mode(p.parent) == 0o777 & ~mask  # the directory made for it, too
    tree, meta = load_checkpoint(p, {"w": jnp.zeros(3)})
    np.testing.assert_array_equal(tree["w"], [0.0, 1.0, 2.0])
