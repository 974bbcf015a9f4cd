"""ZIP uploads are refused whole when any entry is unsafe; safe ones unpack with their folder names."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from datasets.limits import Limits
from datasets.zipsafe import UnsafeArchive, extract

LIMITS = Limits(max_file_bytes=50 * 1024 * 1024, max_zip_entries=20, max_zip_ratio=100)


def make_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]],
             compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def test_a_safe_zip_unpacks_with_its_folder_names_and_skips_desktop_junk(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", [("targets/walk.mp4", b"1" * 100), ("references/walk.mp4", b"2" * 100),
                                             ("__MACOSX/._walk.mp4", b"x"), (".DS_Store", b"x")])
    entries = extract(archive, tmp_path / "out", LIMITS)
    assert [(e.name, e.size) for e in entries] == [("targets/walk.mp4", 100), ("references/walk.mp4", 100)]
    assert all(e.path.parent == tmp_path / "out" for e in entries)  # never written under the archive's names


def test_it_refuses_path_traversal(tmp_path):
    archive = make_zip(tmp_path / "evil.zip", [("ok.mp4", b"1"), ("../../etc/cron.d/evil", b"x")])
    with pytest.raises(UnsafeArchive, match="outside the archive"):
        extract(archive, tmp_path / "out", LIMITS)
    assert not (tmp_path / "out").exists()  # nothing written before the refusal


def test_it_refuses_absolute_paths(tmp_path):
    info = zipfile.ZipInfo("/etc/passwd")
    archive = make_zip(tmp_path / "abs.zip", [(info, b"x")])
    with pytest.raises(UnsafeArchive, match="absolute path"):
        extract(archive, tmp_path / "out", LIMITS)


def test_it_refuses_windows_drive_paths(tmp_path):
    archive = make_zip(tmp_path / "win.zip", [(zipfile.ZipInfo("C:\\Windows\\evil.mp4"), b"x")])
    with pytest.raises(UnsafeArchive, match="absolute path"):
        extract(archive, tmp_path / "out", LIMITS)


def test_it_refuses_symlinks(tmp_path):
    link = zipfile.ZipInfo("clip.mp4")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = make_zip(tmp_path / "link.zip", [(link, b"/etc/passwd")])
    with pytest.raises(UnsafeArchive, match="is a link"):
        extract(archive, tmp_path / "out", LIMITS)


def test_it_refuses_too_many_files(tmp_path):
    archive = make_zip(tmp_path / "many.zip", [(f"c{i}.mp4", b"x") for i in range(21)])
    with pytest.raises(UnsafeArchive, match="21 files; the limit is 20"):
        extract(archive, tmp_path / "out", LIMITS)


def test_it_refuses_an_expansion_ratio_no_real_clip_has(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", [("bomb.mp4", b"\0" * 5_000_000)], zipfile.ZIP_DEFLATED)
    with pytest.raises(UnsafeArchive, match="expands"):
        extract(archive, tmp_path / "out", LIMITS)


def test_it_refuses_entries_bigger_than_the_file_limit(tmp_path):
    archive = make_zip(tmp_path / "big.zip", [("big.mp4", b"1" * 2000)])
    with pytest.raises(UnsafeArchive, match="limit per file"):
        extract(archive, tmp_path / "out", Limits(max_file_bytes=1000))


def test_it_stops_an_entry_that_unpacks_past_its_declared_size(tmp_path):
    archive = make_zip(tmp_path / "liar.zip", [("liar.mp4", b"A" * 4000)])
    data = bytearray(archive.read_bytes())
    # Shrink the declared size in the central directory; the real data stays longer.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchive):
        extract(archive, tmp_path / "out", LIMITS)
    assert not (tmp_path / "out").exists()


def test_a_damaged_zip_is_refused_in_plain_words(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(UnsafeArchive, match="damaged or incomplete"):
        extract(bad, tmp_path / "out", LIMITS)


def test_it_refuses_password_protected_entries(tmp_path):
    archive = make_zip(tmp_path / "locked.zip", [("secret.mp4", b"x")])
    data = bytearray(archive.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x1  # the "encrypted" flag, as a password-protected archive sets it
    archive.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchive, match="password"):
        extract(archive, tmp_path / "out", LIMITS)
