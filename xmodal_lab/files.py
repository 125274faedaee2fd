"""The kit's one way to write a file: a temporary file beside it, then linked to its name (never over another).

The link is the existence check (no race); a crash, a full disk or Ctrl-C leaves nothing under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import resource
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from xmodal_lab.errors import InputTypeError, InputValueError, OutputExistsError, OutputWriteError

_CAUSES = {
    errno.ENOSPC: "the disk is full; free some space or write elsewhere",
    errno.EFBIG: "the file is larger than this system allows (a file-size limit); write elsewhere",
    errno.EDQUOT: "the disk quota is used up; free some space or write elsewhere",
    **dict.fromkeys((errno.EACCES, errno.EPERM), "no permission to write in its folder; choose a folder of yours"),
    errno.EROFS: "its folder is on a read-only file system; choose another folder",
    errno.ENOTDIR: "a part of its folder path is a file, not a folder",
    errno.ENOENT: "its folder does not exist; create it first",
}
_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK)


def _write_error(path: Path, error: OSError, what: str, folder: bool = False) -> OutputWriteError:
    """The OutputWriteError naming the cause; ``folder``: blame a file in the folder path, if there is one."""
    if folder and any(p.is_file() for p in path.parents):
        error = OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    if error.errno is None:  # a library's error without a system cause: say how full the disk is
        try:
            free = f"; {shutil.disk_usage(path.parent).free / 1e9:.2f} GB free on its disk"
        except OSError:
            free = ""
        return OutputWriteError(f"{what} {path} was not written: {error}{free}")
    cause = _CAUSES.get(error.errno, error.strerror)
    return OutputWriteError(error.errno, f"{what} {path} was not written: {cause} ({error.strerror})")


def as_path(path: object, name: str) -> Path:
    """``path`` as a Path; an ``InputTypeError`` naming the argument ``name`` when it is not a str or Path."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputTypeError(f"{name}: expected a file path (str or Path), got {path!r} ({type(path).__name__})")
    return Path(path)


def _file_name(path: str | Path, what: str) -> Path:
    """``path`` as a Path, refused when it is not a path or names no file ('', '.', an existing folder)."""
    as_path(path, f"{what} path")
    if str(path).strip() in ("", ".") or Path(path).is_dir():
        raise InputValueError(f"{what} path {str(path)!r} names a folder, not a file; give a file name such as "
                              "'run/model.pt'")
    return Path(path)


def check_new(path: str | Path, what: str = "file", suffixes: tuple[str, ...] | None = None) -> Path:
    """``path`` as a Path, checked before any work: a known suffix, a free name, an existing parent folder."""
    path = _file_name(path, what)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: expected a {what} file name ending in {' or '.join(suffixes)}")
    if path.exists() or path.is_symlink():
        raise OutputExistsError(f"{what} {path} exists; refusing to overwrite it (choose another name or delete it)")
    if not path.parent.is_dir():
        error = errno.ENOTDIR if path.parent.exists() else errno.ENOENT
        raise _write_error(path, OSError(error, os.strerror(error)), what)
    return path


@contextlib.contextmanager
def publishing(path: str | Path, what: str = "file", writer_creates: bool = False, keep_if_taken: bool = False,
               replace: bool = False, parents: bool = False) -> Iterator[Path]:  # fmt: skip
    """Yield a temporary path beside ``path``; on a clean exit, flush it to disk and publish it as ``path``.

    ``path`` is never replaced, unless ``replace`` (in one step, where the user asked to overwrite): when it exists
    before or after writing, OutputExistsError (``keep_if_taken`` keeps what was written and names it); when the
    folder or the disk refuses the file, OutputWriteError naming the cause. ``what`` names the file in messages,
    ``writer_creates`` leaves no temporary file for drivers that refuse an existing one, ``parents`` makes folders.
    """
    path = _file_name(path, what)
    try:
        if parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.tmp-", suffix=path.suffix, dir=path.parent)
    except OSError as error:
        raise _write_error(path, error, what, folder=True) from error
    os.close(fd)
    tmp, keep = Path(name), False
    try:
        if writer_creates:
            tmp.unlink()
        try:
            yield tmp
        except OutputWriteError:
            raise
        except Exception as error:  # a system error, or a library's over one (torch.save to a file object)
            cause = _os_cause(error) or _full_disk(tmp)  # GDAL and SQLite say "cannot write" without errno
            if cause is None:
                raise
            raise _write_error(path, cause, what) from error
        try:
            if not tmp.is_file() or tmp.stat().st_size == 0:  # a writer that failed without a word
                raise OutputWriteError(f"{what} {path} was not written: the writer left no data (a full disk?)")
            _sync(tmp)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # temporary files are private; the result gets the usual permissions
            (os.replace if replace else _link)(tmp, path)
        except FileExistsError:
            keep = keep_if_taken
            kept = f"; what was written is kept as {tmp}" if keep else ""
            raise OutputExistsError(f"{what} {path} appeared while writing; refusing to overwrite it{kept}") from None
        except OutputWriteError:
            raise
        except OSError as error:
            raise _write_error(path, error, what) from error
        _sync(path.parent, strict=False)  # the new name survives a power cut
    finally:  # also on Ctrl-C or any other exception: no temporary file stays behind
        if not keep:
            for left in (tmp, *_companions(tmp)):
                left.unlink(missing_ok=True)


def publish(path: str | Path, write: Callable[[Path], object], what: str = "file",
            check: Callable[[Path], bool] | None = None, **options: bool) -> Path:  # fmt: skip
    """Call ``write(tmp)`` and publish ``tmp`` as ``path`` (:func:`publishing`), unless ``check(tmp)`` is False."""
    path = _file_name(path, what)
    if not options.get("replace") and (path.parent.is_dir() or not options.get("parents")):
        check_new(path, what)  # a missing folder is created (parents=True); the link never overwrites
    with publishing(path, what, **options) as tmp:
        write(tmp)
        if check is not None and not check(tmp):
            raise OutputWriteError(f"{what} {path} was not written: it does not read back as written")
    return path


def publish_text(path: str | Path, text: str, what: str = "file", replace: bool = False) -> Path:
    """Write ``text`` as the new file ``path`` (replacing it only when ``replace``), whole or not at all."""
    return publish(path, lambda tmp: tmp.write_text(text), what, replace=replace, parents=True)


def _os_cause(error: BaseException) -> OSError | None:
    """``error`` if it is a system error, else the one behind it (its cause or context), if any."""
    seen: BaseException | None = error
    while seen is not None and not isinstance(seen, OSError):
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return seen


def _companions(tmp: Path) -> list[Path]:
    """Files a driver adds beside ``tmp`` (SQLite's ``-journal``, GDAL's ``.aux.xml``), named after it."""
    try:
        return [p for p in tmp.parent.iterdir() if p.name.startswith(tmp.name) and p != tmp and p.is_file()]
    except OSError:  # a folder that can be written but not listed
        return []


def _full_disk(tmp: Path, room: int = 1 << 20) -> OSError | None:
    """A full disk or the file-size limit (within ``room`` bytes) as the cause of a write without errno (GDAL)."""
    try:
        free = shutil.disk_usage(tmp.parent).free
        largest = max((p.stat().st_size for p in (tmp, *_companions(tmp)) if p.is_file()), default=0)
    except OSError:
        return None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and largest + room > limit:
        return OSError(errno.EFBIG, os.strerror(errno.EFBIG))
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) if free < room else None


def _link(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` unless that name exists (FileExistsError)."""
    try:
        os.link(tmp, path)  # atomic "create if absent"
    except OSError as error:
        if error.errno not in _NO_LINKS or isinstance(error, FileExistsError):
            raise
        # no hard links on this file system: claim the name empty, then replace only that claim
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.replace(tmp, path)


def _sync(path: Path, strict: bool = True) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        if strict and error.errno not in (errno.EINVAL, errno.EBADF):  # some file systems cannot sync
            raise


@contextlib.contextmanager
def claim(path: str | Path, what: str = "checkpoint") -> Iterator[Path]:
    """Hold ``path``'s name for one run, refused if taken: a lock on ``<path>.lock`` that dies with its process."""
    path = check_new(path, what)
    lock = path.with_name(path.name + ".lock")
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise _write_error(path, error, what) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputExistsError(f"{what} {path} is being written by another run (it holds {lock}); choose "
                                    "another path") from None
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        os.close(fd)  # the lock file was removed by its last holder between open and lock: try again
    try:
        check_new(path, what)  # a file that appeared before the claim held
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        lock.unlink(missing_ok=True)  # while still holding it, so no other run locks a removed file
        os.close(fd)


def new_folder(path: str | Path, what: str = "folder") -> Path:
    """Create the new folder ``path`` (and missing parents) for one run; ``os.mkdir`` is the claim."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path)
    except FileExistsError:
        raise OutputExistsError(f"{what} {path} exists; it belongs to another run (choose a new folder or "
                                "delete it)") from None
    except OSError as error:
        raise _write_error(path, error, what, folder=True) from error
    return path


__all__ = ["as_path", "check_new", "claim", "new_folder", "publish", "publish_text", "publishing"]
