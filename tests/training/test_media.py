"""probe / conform / write_mp4 on clips made with ffmpeg (and on real footage when it is present)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.media import MediaError, conform, fps_text, normalized_photo, probe, write_mp4, write_poster
from tests.helpers import hdr_copy, sideways_photo, viewed_pixels


def test_probe_reports_fps_frames_size_duration_audio_and_codec(clip_factory: Any) -> None:
    info = probe(clip_factory("probe", 0, width=160, height=96, fps=25.0, seconds=2.0))
    assert (info.fps, info.frames, info.width, info.height) == (25.0, 50, 160, 96)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.has_audio is False and info.codec == "h264"


def test_probe_rejects_a_file_that_is_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    with pytest.raises(MediaError, match=r"notes\.mp4: not a readable video"):
        probe(text)
    with pytest.raises(MediaError, match="file not found"):
        probe(tmp_path / "missing.mp4")


def test_probe_rejects_a_truncated_video(clip_factory: Any, tmp_path: Path) -> None:
    whole = clip_factory("whole", 2).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(MediaError, match=r"cut\.mp4"):
        probe(cut)


def test_conform_resamples_resizes_centre_crops_and_keeps_the_first_frames(clip_factory: Any) -> None:
    clip = clip_factory("wide", 1, width=320, height=128, fps=30.0, seconds=1.0)
    frames = conform(clip, fps=24.0, width=128, height=128, frames=17)
    assert frames.shape == (17, 128, 128, 3) and frames.dtype == np.uint8
    assert frames.std() > 10  # real content, not a blank frame


def test_a_phone_clip_stored_sideways_is_probed_and_conformed_upright(clip_factory: Any, tmp_path: Path) -> None:
    sideways = tmp_path / "phone.mp4"
    # Phones store portrait video as landscape pixels plus a rotation for the player.
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip_factory("landscape", 2, width=320, height=192)), "-c",
                    "copy", "-metadata:s:v:0", "rotate=90", str(sideways)], check=True)
    info = probe(sideways)
    assert (info.width, info.height) == (192, 320)
    upright = conform(sideways, fps=24.0, width=192, height=320, frames=9)
    # Nothing was cropped: the decoded frames are the rotated original, whole.
    original = conform(clip_factory("landscape", 2, width=320, height=192), fps=24.0, width=320, height=192, frames=9)
    turned = np.rot90(original, k=1, axes=(1, 2))  # the tag says 90: ffmpeg turns it a quarter anticlockwise
    assert np.abs(upright.astype(int) - turned.astype(int)).mean() < 3


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp")])
def test_a_phone_photo_stored_sideways_is_turned_upright(fmt: str, suffix: str) -> None:
    normalized = normalized_photo(sideways_photo(fmt))
    assert normalized is not None and normalized[1] == suffix
    pixels = viewed_pixels(normalized[0])
    assert pixels.shape == (320, 192, 3)
    assert pixels[10, 180, 2] > 150 and pixels[10, 10, 0] > 150  # the blue patch is top-right, as a viewer shows it
    assert normalized_photo(normalized[0]) is None  # upright already: left alone
    assert normalized_photo(b"not a photo at all") is None


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_iphone_heic_and_avif_photos_become_upright_jpegs(fmt: str) -> None:
    photo = sideways_photo(fmt)
    if fmt == "HEIF":
        with pytest.raises(MediaError):  # ffmpeg 5.1 cannot read HEIC at all (AVIF it reads, but sideways)
            viewed_pixels(photo)
    normalized = normalized_photo(photo)
    assert normalized is not None and normalized[1] == ".jpg" and normalized[0][:3] == b"\xff\xd8\xff"
    pixels = viewed_pixels(normalized[0])
    assert pixels.shape == (320, 192, 3) and pixels[10, 180, 2] > 150


@pytest.mark.parametrize("kind", ["hlg", "pq"])
def test_hdr_phone_video_is_decoded_to_the_colours_a_viewer_sees(kind: str, clip_factory: Any, tmp_path: Path) -> None:
    source = clip_factory("colours", 5, width=160, height=128)
    hdr = hdr_copy(source, tmp_path / f"{kind}.mp4", kind)
    assert probe(hdr).hdr == kind and probe(source).hdr == ""
    want = conform(source, fps=24.0, width=160, height=128, frames=9).astype(float)
    got = conform(hdr, fps=24.0, width=160, height=128, frames=9).astype(float)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(hdr), "-frames:v", "9", "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], check=True, capture_output=True).stdout
    washed_out = np.frombuffer(raw, np.uint8).reshape(want.shape).astype(float)  # HDR read as if it were not
    assert np.abs(got - want).mean() < 0.5 * np.abs(washed_out - want).mean()


def test_conform_refuses_a_clip_that_is_too_short(clip_factory: Any) -> None:
    clip = clip_factory("short", 0, seconds=0.5)
    with pytest.raises(MediaError, match="only 12 frames at 24 fps, 17 needed"):
        conform(clip, fps=24.0, width=128, height=128, frames=17)


def test_write_mp4_round_trips_through_probe(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).random((9, 64, 96, 3)).astype(np.float32)
    info = probe(write_mp4(frames, tmp_path / "out.mp4", fps=24.0))
    assert (info.frames, info.width, info.height, info.fps) == (9, 96, 64, 24.0)


def test_real_ntsc_footage_is_probed_and_conformed(shared_media: Path) -> None:
    info = probe(shared_media / "carphone_pristine.mp4")
    assert info.fps == pytest.approx(29.97, abs=0.01) and (info.width, info.height) == (176, 144)
    frames = conform(shared_media / "cityCC0.mpg", fps=24.0, width=256, height=128, frames=25)
    assert frames.shape == (25, 128, 256, 3)


@pytest.mark.parametrize(("fps", "shown"), [(14.99985, "15"), (30.1205, "30.12"), (29.97, "29.97"), (24.0, "24"),
                                            (23.976023, "23.98"), (15.0, "15")])
def test_frame_rates_are_shown_as_people_write_them(fps: float, shown: str) -> None:
    assert fps_text(fps) == shown


def _colour_clip(path: Path, parts: list[tuple[str, float]], size: str = "1280x720") -> Path:
    """A clip of solid colours, one after the other: [(colour, seconds), ...]."""
    inputs = [arg for colour, seconds in parts
              for arg in ("-f", "lavfi", "-i", f"color={colour}:s={size}:r=24:d={seconds}")]
    joined = "".join(f"[{i}:v]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=1[v]"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", joined, "-map", "[v]", "-pix_fmt",
                    "yuv420p", str(path)], check=True)
    return path


def test_a_poster_is_a_page_sized_jpeg_of_the_frame_a_third_of_the_way_in(tmp_path: Path) -> None:
    clip = _colour_clip(tmp_path / "rgb.mp4", [("red", 0.5), ("lime", 2.0), ("blue", 0.5)])
    poster = write_poster(clip, tmp_path / "poster.jpg")
    data = poster.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"  # a JPEG
    pixels = viewed_pixels(data).astype(float)
    assert pixels.shape == (360, 640, 3)  # at most 640 wide, in the clip's shape
    red, green, blue = pixels.reshape(-1, 3).mean(axis=0)
    assert green > 200 and red < 40 and blue < 40  # the green second, not the red start


def test_a_clip_too_short_to_seek_in_still_gets_its_first_frame_as_poster(tmp_path: Path) -> None:
    one = tmp_path / "one.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=blue:s=96x64:r=24", "-frames:v", "1",
                    "-pix_fmt", "yuv420p", str(one)], check=True)
    pixels = viewed_pixels(write_poster(one, tmp_path / "one.jpg").read_bytes()).astype(float)
    assert pixels.shape == (64, 96, 3) and pixels[..., 2].mean() > 200


def test_a_file_with_no_frame_gives_no_poster(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(MediaError):
        write_poster(bad, tmp_path / "bad.jpg")
