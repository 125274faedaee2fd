"""Output files that never overwrite: written beside the target, read back, then moved into place."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def check_out_path(out_path: str | Path, suffixes: tuple[str, ...], what: str) -> Path:
    """``out_path`` as a Path; ValueError for a suffix not in ``suffixes``, FileExistsError if it exists."""
    path = Path(out_path)
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: expected a {what} file name ending in {' or '.join(suffixes)}")
    if path.exists():
        raise FileExistsError(f"{path}: exists; refusing to overwrite it (choose another name or delete it)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: output folder does not exist")
    return path


def write_checked(
    path: Path,
    write: Callable[[Path], None],
    reads_back: Callable[[Path], bool],
    what: str,
    driver_creates: bool = False,
) -> Path:
    """Write ``path`` through a temporary file beside it, check it, then publish it without overwriting."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    if driver_creates:
        tmp.unlink()
    try:
        write(tmp)
        if not reads_back(tmp):
            raise OSError(f"{path}: the written {what} does not read back as written")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # temporary files are private; the result gets the usual permissions
        try:
            os.link(tmp, path)  # an atomic "create if absent"
        except FileExistsError:
            raise FileExistsError(f"{path}: appeared while writing; refusing to overwrite it") from None
        except OSError:  # no hard links on this file system
            if path.exists():
                raise FileExistsError(f"{path}: appeared while writing; refusing to overwrite it") from None
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
