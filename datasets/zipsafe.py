"""Extract an uploaded ZIP without trusting it: no traversal, no links, no absolute paths, no bombs.

The whole archive is refused at the first unsafe entry, before anything is written; extraction then streams
each entry and stops if it grows past what its header promised.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from datasets.limits import Limits

CHUNK = 1024 * 1024
# Junk that archivers and desktops add; never a creator's clip.
IGNORED_PARTS = ("__MACOSX",)
IGNORED_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")


class UnsafeArchive(ValueError):
    """The ZIP was refused; the message says why in plain words."""


@dataclass(frozen=True)
class Entry:
    name: str  # safe relative POSIX path inside the archive
    path: Path  # where it was extracted
    size: int


def is_ignored(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p in IGNORED_PARTS for p in parts) or (bool(parts) and (parts[-1] in IGNORED_NAMES or
                                                                      parts[-1].startswith("._")))


def _safe_name(info: zipfile.ZipInfo) -> str:
    raw = info.filename
    if "\\" in raw:
        raw = raw.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UnsafeArchive(f"“{info.filename}” has an absolute path. Zip the folder itself, not its full path.")
    parts = PurePosixPath(raw).parts
    if ".." in parts:
        raise UnsafeArchive(f"“{info.filename}” points outside the archive (it contains “..”).")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchive(f"“{info.filename}” is a link, not a file. Zip the real files instead.")
    if info.flag_bits & 0x1:
        raise UnsafeArchive(f"“{info.filename}” is password-protected. Zip it again without a password.")
    return str(PurePosixPath(*[p for p in parts if p not in ("", ".")]))


def check_archive(archive: zipfile.ZipFile, limits: Limits, compressed_size: int) -> list[zipfile.ZipInfo]:
    """The entries to extract, or UnsafeArchive for the whole archive."""
    infos = archive.infolist()
    if len(infos) > limits.max_zip_entries:
        raise UnsafeArchive(
            f"The ZIP holds {len(infos)} files; the limit is {limits.max_zip_entries}. Split it into smaller ZIPs."
        )
    files = []
    total = 0
    for info in infos:
        _safe_name(info)
        if info.is_dir() or is_ignored(info.filename):
            continue
        if info.file_size > limits.max_file_bytes:
            raise UnsafeArchive(f"“{info.filename}” is larger than the {limits.max_file_bytes // (1024 * 1024)} MB "
                                "limit per file.")
        if info.compress_size and info.file_size / info.compress_size > limits.max_zip_ratio:
            raise UnsafeArchive(
                f"“{info.filename}” expands {info.file_size / info.compress_size:.0f} times when unpacked, which "
                "real clips never do. The ZIP was refused as unsafe."
            )
        total += info.file_size
        files.append(info)
    if compressed_size and total / compressed_size > limits.max_zip_ratio:
        raise UnsafeArchive("The ZIP expands far more than real clips do when unpacked. It was refused as unsafe.")
    return files


def _copy_bounded(source: IO[bytes], out_path: Path, limit: int, name: str) -> int:
    written = 0
    with out_path.open("wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise UnsafeArchive(f"“{name}” unpacks to more than its header says. The ZIP was refused as unsafe.")
            out.write(chunk)
    return written


def extract(zip_path: str | Path, dest: str | Path, limits: Limits) -> list[Entry]:
    """Check everything first, then extract into `dest` (flat, numbered files; names kept in Entry)."""
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as err:
        raise UnsafeArchive("This ZIP file is damaged or incomplete and cannot be opened.") from err
    with archive:
        infos = check_archive(archive, limits, zip_path.stat().st_size)
        dest.mkdir(parents=True, exist_ok=True)
        entries = []
        try:
            for number, info in enumerate(infos):
                name = _safe_name(info)
                # Written under a number, never under the archive's own path.
                out_path = dest / f"{number:05d}{PurePosixPath(name).suffix[:10]}"
                with archive.open(info) as source:
                    size = _copy_bounded(source, out_path, info.file_size, name)
                entries.append(Entry(name=name, path=out_path, size=size))
        except (zipfile.BadZipFile, EOFError, OSError) as err:
            shutil.rmtree(dest, ignore_errors=True)
            raise UnsafeArchive(f"The ZIP is damaged: {err}.") from err
        except UnsafeArchive:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return entries
