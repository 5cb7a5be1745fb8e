"""A full disk: how the harness tells one, writes through one, and ends a run on one.

Every file of a run folder is written by someone (run.json by the manifest, request rows
by Locust, probe cycles by the probe, counters by the scraper, the analysis, the report),
and any of them may be the first to find no block left. Whoever finds it, the run ends the
same way, in one place each (`bench.experiment`, `bench.sweep`, `bench report`): `failed`,
one line naming the folder and "no space left", no traceback. So:

- `no_space` finds ENOSPC (or EDQUOT, a quota: the same for us) anywhere in an error's
  chain; `as_disk_full` also explains a child's death by the disk it writes to, when that
  disk is full, since the child's own log, on the same disk, may say nothing;
- `is_full` is the harness's own look (statvfs) during and after the load: Locust counts
  a failed write of its rows as an error in an event handler and may still exit 0;
- `write_whole` and `whole` write a file aside and rename it, so no reader ever finds
  half of one; `write_in_place` is for run.json when even the small file aside cannot be
  written: the file's own blocks are reused;
- `discard_derived` removes what analysis and the report derive, which may be partial,
  when the disk fills while they write (they are rebuilt by `bench report`).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.layout import RunFolder
from bench.runtime.base import RunFailure

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# Less room than this in a run folder's file system and the run cannot go on: a batch of
# request rows, a probe cycle's buffer or a plot is larger.
FULL_BELOW_BYTES = 64 * 1024
NO_SPACE = "no space left on device"


class DiskFull(RunFailure):
    """The run folder's disk is full: the run ends `failed` with this one line."""

    def __init__(self, folder: Path, what: str = "") -> None:
        self.folder = folder
        super().__init__(f"{NO_SPACE} in {folder}" + (f" ({what})" if what else ""))


def no_space(exc: BaseException | None) -> BaseException | None:
    """The DiskFull, or OSError with ENOSPC or EDQUOT, in `exc` or its chain; else None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFull):
            return exc
        if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def disk_full_words(found: BaseException) -> str:
    """One line for what `no_space` found: DiskFull's own words, or the OSError's file."""
    if isinstance(found, OSError) and found.filename:
        return f"{NO_SPACE} (writing {os.fsdecode(found.filename)})"
    return str(found) if isinstance(found, DiskFull) else NO_SPACE


def free_bytes(path: Path) -> int | None:
    """Room left for this process on `path`'s file system (root may use reserved blocks)."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    blocks = stat.f_bfree if os.geteuid() == 0 else stat.f_bavail
    return blocks * stat.f_frsize


def is_full(path: Path) -> bool:
    free = free_bytes(path)
    return free is not None and free < FULL_BELOW_BYTES


def raise_if_full(folder: Path, when: str) -> None:
    if is_full(folder):
        raise DiskFull(folder, when)


def as_disk_full(exc: BaseException, folder: Path) -> DiskFull | None:
    """`exc` as the full disk that caused it, or None when no disk filled.

    An error that is ENOSPC names the file it was writing; any other failure of the run
    (a child that died or exited non-zero) is the full disk's when `folder`'s disk is full.
    """
    found = no_space(exc)
    if isinstance(found, DiskFull):
        return found
    if isinstance(found, OSError):
        return DiskFull(folder, writing(found, folder))
    if isinstance(exc, RunFailure) and is_full(folder):
        said = str(exc).splitlines()
        return DiskFull(folder, said[0] if said else type(exc).__name__)
    return None


def writing(error: OSError, folder: Path) -> str:
    """`writing <file>` when the error names one (relative to the folder), else ''."""
    if not error.filename:
        return ""
    path = Path(os.fsdecode(error.filename))
    return f"writing {path.relative_to(folder) if path.is_relative_to(folder) else path}"


def aside(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp")


@contextmanager
def whole(path: Path) -> Iterator[Path]:
    """A path to write `path`'s new content to; renamed over `path` when the block ends
    without error, removed when it does not, so `path` is never half written."""
    tmp = aside(path)
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_whole(path: Path, text: str) -> None:
    with whole(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_in_place(path: Path, candidates: Sequence[str]) -> None:
    """Rewrite an existing small file over the blocks it already has, for when no new
    block can be had: the first of `candidates` that fits them (the last if none does).

    The old bytes are written back if the new ones do not go in, so the file is either
    the new text or the old one (on a file system that allocates on every write, such as
    a copy-on-write one, neither may go in: the OSError is raised then).
    """
    fd = os.open(path, os.O_RDWR)
    try:
        old = os.pread(fd, max(os.fstat(fd).st_size, 1), 0)
        room = max(os.fstat(fd).st_blocks * 512, len(old))
        encoded = [text.encode("utf-8") for text in candidates]
        new = next((data for data in encoded if len(data) <= room), encoded[-1])
        try:
            os.pwrite(fd, new, 0)
            os.ftruncate(fd, len(new))
        except OSError:
            os.pwrite(fd, old, 0)
            os.ftruncate(fd, len(old))
            raise
    finally:
        os.close(fd)


def discard_derived(run: RunFolder) -> None:
    """Remove what analysis and the report write into `run` (any of it may be partial),
    and the unfinished Parquet parts an older analysis left beside the request files; the
    raw files stay."""
    for path in run.derived():
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for part in run.requests.glob("*.part"):
        part.unlink(missing_ok=True)
