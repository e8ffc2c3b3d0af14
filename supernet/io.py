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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_mode(path: str | os.PathLike, folder: bool = False) -> None:
    """Give a temporary file or folder (created private by ``tempfile``) the mode a plain one would get."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (and durably: the temporary file is fsynced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        publish_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """JSON artefact, written atomically."""
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


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

    A parent folder that cannot be created or written is a :class:`~supernet.errors.GreenError`.
    """
    from supernet.errors import GreenError

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as err:
        raise GreenError(f"cannot write output folder {str(path)!r}: {err.strerror or err}") from None
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        publish_mode(tmp, folder=True)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
