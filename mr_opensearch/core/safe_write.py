"""Writing user-named outputs without losing data.

Every command that writes a file or folder the user named goes through here, and so does every
artefact a run or command writes (run files, step markers, evaluation caches, manifests, node state):

* :func:`check_output_file` refuses, before any work is done, an output that is one of the command's
  inputs or that already exists (unless ``--force``), a folder given where a file is expected, a
  parent that is a file, and a folder mros cannot write into;
* :func:`check_output_dir` refuses an output folder that is a file, sits under a file, or cannot be
  created or written;
* :func:`atomic_write` (and :func:`write_text`, :func:`write_bytes`) write into a temporary file in
  the same folder, fsync it and move it into place with :func:`os.replace`, so a crash or a full
  disk never leaves a half-written file where a good one was.

Torch- and pandas-free: the serving side uses it too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from mr_opensearch.core.errors import MrosError

FORCE_HINT = "choose another output path, or pass --force to replace it"


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _check_creatable(path: Path, option: str) -> None:
    """``path`` (file or folder) can be created: no ancestor is a file and the closest existing
    ancestor is a writable folder."""
    anchor = path if path.is_dir() else _nearest_existing(path.parent)
    if anchor.exists() and not anchor.is_dir():
        raise MrosError(f"{option} {path}: {anchor} is a file, not a folder",
                        "choose an output path whose parent folders are folders")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise MrosError(f"{option} {path}: the folder {anchor} is not writable",
                        "choose an output path in a folder you can write to")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (the same inode when both exist, else the same resolved path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output_file(path: Path | str, *, inputs: Iterable[Path | str | None] = (), force: bool = False,
                      option: str = "--out", may_exist: bool = False) -> Path:
    """Refuse a user-named output file that cannot or must not be written (see module docstring).

    ``may_exist``: the caller handles an existing file itself (``mros label apply`` resumes its own output).
    """
    path = Path(path)
    for given in inputs:
        if given is not None and same_file(path, Path(given)) and not force:
            raise MrosError(f"{option} {path} is also an input of this command; writing it would destroy that input",
                            "write the output to a new file (or pass --force to replace the input)")
    if path.is_dir():
        raise MrosError(f"{option} {path} is a folder, not a file", "name a file inside it, e.g. "
                        f"{path / ('out' + (path.suffix or '.csv'))}")
    if path.exists() and not force and not may_exist:
        raise MrosError(f"{option} {path} already exists", FORCE_HINT)
    _check_creatable(path, option)
    return path


def check_output_dir(path: Path | str, option: str = "--out") -> Path:
    """Refuse an output folder that is a file, lies under a file, or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MrosError(f"{option} {path} is a file, not a folder", "name a folder (it is created when missing)")
    _check_creatable(path, option)
    return path


def make_dir(path: Path | str, option: str = "--out") -> Path:
    """``mkdir -p`` with a :class:`MrosError` instead of a raw ``OSError``."""
    path = check_output_dir(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MrosError(f"{option} {path}: cannot create the folder ({exc.strerror})",
                        "choose an output folder you can write to") from None
    return path


@contextlib.contextmanager
def atomic_write(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, fsync it and move it onto
    ``path``; when it fails, remove it and leave ``path`` as it was."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise MrosError(f"cannot write {path} ({exc.strerror})", "choose an output path you can write to") from None
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the output gets the usual mode
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes(path: Path | str, data: bytes) -> Path:
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: Path | str, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))
