"""Atomic artefact writing: a temporary file in the same folder, then an atomic rename.

A run killed mid-write leaves either the previous file or none, never a truncated one that a
later run would trust.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

TMP_SUFFIX = ".tmp"  # every temporary file or folder of this module ends so: sweep_temp finds what a kill left


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_mode(path: str | os.PathLike, folder: bool = False) -> None:
    """Give a temporary file or folder (created private by ``tempfile``) the mode a plain one would get."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (and durably: the temporary file is fsynced).

    A full disk is a :class:`~core.errors.DiskFullError` naming the file: the old file is intact and
    the temporary one is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        publish_mode(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        _raise_if_disk_full(err, path)
        raise
    return path


def _raise_if_disk_full(err: BaseException, path: Path) -> None:
    from core.errors import DiskFullError, disk_full

    if disk_full(err):
        raise DiskFullError(f"no space left on device writing {str(path)!r} (in {str(path.parent)!r}); the "
                            "previous version is intact: free some space and rerun") from None


def sweep_temp(folder: str | os.PathLike) -> list[Path]:
    """Remove what killed writers left in ``folder`` (files and folders named ``.<name>.<random>.tmp`` by
    :func:`write_atomic` and :func:`atomic_folder`); call it only while holding the folder's lock, so no
    live writer's temporary is taken. Returns what was removed."""
    gone = []
    for root, dirs, files in os.walk(folder):
        for name in [*files, *dirs]:
            if name.startswith(".") and name.endswith(TMP_SUFFIX) and name.count(".") >= 3:
                p = Path(root) / name
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                gone.append(p)
        dirs[:] = [d for d in dirs if not (d.startswith(".") and d.endswith(TMP_SUFFIX))]
    return gone


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """JSON artefact, written atomically."""
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line to a log file (flushed to the OS: a killed process loses nothing it appended).

    A log that is only ever appended to costs a line per record, not a rewrite of everything kept so
    far; its reader must accept a last line cut short by a crash. A full disk is a
    :class:`~core.errors.DiskFullError` and leaves the file as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line.rstrip("\n") + "\n")
            f.flush()
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.truncate(path, size)
        _raise_if_disk_full(err, path)
        raise


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None) -> Path:
    """CSV artefact of ``rows`` (columns ``fields``, default: every key in order seen), written atomically."""
    fields = list(fields) if fields is not None else list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return write_atomic(path, buf.getvalue())


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Fill a temporary sibling folder, then rename it to ``path`` (replacing an old one); removed on failure.

    An old folder is first renamed aside, so at every instant ``path`` is the old folder or the new one.
    A parent folder that cannot be created or written is a :class:`~core.errors.GreenError`; a full
    disk a :class:`~core.errors.DiskFullError`.
    """
    from core.errors import GreenError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent))
    except OSError as err:
        _raise_if_disk_full(err, path)
        raise GreenError(f"cannot write output folder {str(path)!r}: {err.strerror or err}") from None
    try:
        yield tmp
        publish_mode(tmp, folder=True)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", suffix=TMP_SUFFIX, dir=path.parent))
            os.replace(path, old)  # onto the empty placeholder: same folder, so an atomic rename
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        _raise_if_disk_full(err, path)
        raise
