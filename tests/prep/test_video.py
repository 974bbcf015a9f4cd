"""The frame reader and writer every extraction is built on: frame for frame, exact fps, exact size."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from prep.extract.base import ExtractionError
from prep.extract.video import ClipFormat, FrameWriter, clip_format, read_frames
from tests.prep.conftest import LavfiClip

NTSC = Fraction(30000, 1001)


def copy_clip(src: Path, dst: Path) -> tuple[ClipFormat, list[np.ndarray]]:
    """Read every frame of `src` and write it to `dst`; returns the source format and frames."""
    fmt = clip_format(src)
    frames = list(read_frames(src, fmt))
    with FrameWriter(dst, fmt) as writer:
        for frame in frames:
            writer.write(frame)
    return fmt, frames


@pytest.mark.parametrize(("name", "expected"), [
    ("cityCC0.mpg", ClipFormat(Fraction(25), 720, 405, 190)),
    ("carphone_pristine.mp4", ClipFormat(NTSC, 176, 144, 120)),
])
def test_it_keeps_frame_count_fps_and_size_of_real_clips(shared_media: Path, tmp_path: Path, name: str,
                                                        expected: ClipFormat) -> None:
    fmt, frames = copy_clip(shared_media / name, tmp_path / "copy.mp4")
    assert fmt == expected
    assert len(frames) == expected.frames
    assert clip_format(tmp_path / "copy.mp4") == expected


def test_it_keeps_an_odd_size_and_ntsc_rate_of_a_synthetic_clip(lavfi_clip: LavfiClip, tmp_path: Path) -> None:
    src = lavfi_clip("testsrc", 65, 49, NTSC, 17)
    fmt, frames = copy_clip(src, tmp_path / "copy.mp4")
    assert fmt == ClipFormat(NTSC, 65, 49, 17)
    copied = list(read_frames(tmp_path / "copy.mp4", clip_format(tmp_path / "copy.mp4")))
    assert clip_format(tmp_path / "copy.mp4") == fmt
    # The picture itself survives (a wrong width would shear it into noise), up to H.264's small losses.
    error = np.mean([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, copied, strict=True)])
    assert error < 4


def test_it_reads_a_phone_clip_upright_at_its_displayed_size(lavfi_clip: LavfiClip, tmp_path: Path) -> None:
    plain = lavfi_clip("testsrc", 96, 64, Fraction(25), 5)
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    str(rotated)], check=True)
    fmt = clip_format(rotated)
    assert (fmt.width, fmt.height) == (64, 96)
    upright = next(read_frames(rotated, fmt))
    original = next(read_frames(plain, clip_format(plain)))
    # The "rotate=90" tag asks players for a quarter turn: the original's right column becomes the top row.
    assert np.abs(np.rot90(original).astype(int) - upright.astype(int)).mean() < 4


def test_frames_can_be_read_scaled_to_a_preview_size_every_one_of_them(lavfi_clip: LavfiClip) -> None:
    src = lavfi_clip("testsrc", 96, 64, Fraction(25), 7)
    fmt = clip_format(src)
    full = list(read_frames(src, fmt))
    small = list(read_frames(src, fmt, size=(48, 32)))
    assert len(small) == len(full) == 7 and {frame.shape for frame in small} == {(32, 48, 3)}
    # The same pictures, halved: a wrong size would shear them into noise.
    halved = [frame.reshape(32, 2, 48, 2, 3).mean(axis=(1, 3)) for frame in full]
    assert np.mean([np.abs(a - b.astype(float)).mean() for a, b in zip(halved, small, strict=True)]) < 12


def test_it_removes_the_file_when_writing_fails_part_way(tmp_path: Path) -> None:
    fmt = ClipFormat(Fraction(25), 64, 48, 10)
    dst = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), FrameWriter(dst, fmt) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("the extraction failed")
    assert not dst.exists()


def test_it_refuses_a_frame_of_the_wrong_size_and_leaves_no_file(tmp_path: Path) -> None:
    dst = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="expected"), FrameWriter(dst, ClipFormat(Fraction(25), 64, 48, 1)) as w:
        w.write(np.zeros((64, 48, 3), np.uint8))
    assert not dst.exists()


def test_it_says_plainly_when_the_output_cannot_be_written(tmp_path: Path) -> None:
    folder = tmp_path / "taken.mp4"
    folder.mkdir()
    with pytest.raises(ExtractionError, match="could not be written"), \
            FrameWriter(folder, ClipFormat(Fraction(25), 320, 240, 50)) as writer:
        for _ in range(50):
            writer.write(np.zeros((240, 320, 3), np.uint8))
    assert folder.is_dir()


@pytest.mark.parametrize("content", [b"", b"this is a caption, not a video\n", bytes(range(256)) * 64])
def test_it_refuses_a_file_that_is_not_a_video(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.mp4"
    path.write_bytes(content)
    with pytest.raises(ExtractionError, match=r"notes\.mp4 could not be read as a video\."):
        clip_format(path)


def test_it_refuses_a_sound_only_file(tmp_path: Path) -> None:
    path = tmp_path / "voice.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=0.5", str(path)], check=True)
    with pytest.raises(ExtractionError, match=r"voice\.m4a has no video in it\."):
        clip_format(path)


def test_hdr_phone_video_is_read_in_the_colours_a_viewer_sees(tmp_path: Path) -> None:
    from engine.synthetic import make_clip
    from tests.helpers import hdr_copy

    source = make_clip(tmp_path / "source.mp4", 5, width=160, height=128)
    hlg = hdr_copy(source, tmp_path / "hlg.mp4", "hlg")
    fmt = clip_format(hlg)
    assert fmt.hdr == "hlg" and (fmt.width, fmt.height, fmt.frames) == (160, 128, 24)
    want = np.stack(list(read_frames(source, clip_format(source)))).astype(float)
    got = np.stack(list(read_frames(hlg, fmt))).astype(float)
    assert got.shape == want.shape and np.abs(got - want).mean() < 12


def test_a_variable_frame_rate_clip_is_copied_with_its_own_frame_times(tmp_path: Path) -> None:
    from dataclasses import replace

    from engine.media import conform, probe
    from tests.helpers import variable_rate_clip

    source = variable_rate_clip(tmp_path / "phone.mp4")
    fmt, _ = copy_clip(source, tmp_path / "copy.mp4")
    assert fmt.frame_pts is not None and len(fmt.frame_pts) == fmt.frames == 70
    assert clip_format(tmp_path / "copy.mp4").frame_pts == fmt.frame_pts
    same = ("fps", "frames", "duration")
    assert [getattr(probe(tmp_path / "copy.mp4"), k) for k in same] == [getattr(probe(source), k) for k in same]

    # Resampled to a training rate, the copy shows the same moments as its source, frame for frame...
    def apart(path: Path) -> float:
        a, b = (conform(p, 24.0, 160, 128, 65).astype(float) for p in (source, path))
        return float(np.abs(a - b).mean(axis=(1, 2, 3)).max())

    assert apart(tmp_path / "copy.mp4") < 6
    # ...which a copy at the average constant rate does not: it drifts where the phone slowed down.
    constant = replace(fmt, frame_pts=None, time_base=None)
    with FrameWriter(tmp_path / "constant.mp4", constant) as writer:
        for frame in read_frames(source, fmt):
            writer.write(frame)
    assert apart(tmp_path / "constant.mp4") > 15


def test_a_constant_rate_clip_has_no_frame_times_to_keep(lavfi_clip: LavfiClip) -> None:
    fmt = clip_format(lavfi_clip("testsrc2", 64, 48, NTSC, 20))
    assert fmt.frame_pts is None and fmt.rate == NTSC and fmt.frames == 20
