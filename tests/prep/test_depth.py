"""Depth references: the tiny Depth Anything round trip on real clips, one range per clip, smoothing, plain refusals."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from prep.extract.base import ExtractionError
from prep.extract.depth import (
    DepthSettings,
    depth_model_problem,
    depth_range,
    extract_depth,
    load_depth_model,
    normalise,
    smoothed_frames,
)
from prep.extract.tiny_models import build_tiny_depth_model
from prep.extract.video import ClipFormat, clip_format, read_frames
from tests.prep.conftest import LavfiClip, TrimClip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_depth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_depth_model(tmp_path_factory.mktemp("depth-model"))


def frames_of(path: Path) -> np.ndarray:
    """All frames of `path` as (T, H, W, 3) uint8."""
    return np.stack(list(read_frames(path, clip_format(path))))


def frame_to_frame_change(frames: np.ndarray) -> float:
    return float(np.abs(np.diff(frames.astype(np.float32), axis=0)).mean())


# --- The round trip on real footage ----------------------------------------------------------------------------


def test_it_loads_the_tiny_model_like_an_operators_folder_and_only_once(tiny_depth: Path) -> None:
    assert depth_model_problem(tiny_depth) is None
    assert depth_model_problem(str(tiny_depth)) is None
    model = load_depth_model(tiny_depth)
    assert load_depth_model(str(tiny_depth)) is model
    assert type(model.model).__name__ == "DepthAnythingForDepthEstimation"
    assert not model.metric


def test_it_makes_a_depth_video_of_a_generated_clip_without_the_shared_footage(
        lavfi_clip: LavfiClip, tiny_depth: Path, tmp_path: Path) -> None:
    source = lavfi_clip("testsrc", 96, 64, Fraction(24000, 1001), 9)
    report = extract_depth(source, tmp_path / "depth.mp4", DepthSettings(batch_size=3), load_depth_model(tiny_depth))
    assert clip_format(tmp_path / "depth.mp4") == ClipFormat(Fraction(24000, 1001), 96, 64, 9)
    assert report.frames == 9 and report.seconds > 0
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".depth-")]  # scratch removed


@pytest.mark.parametrize(("name", "frames", "size"), [
    ("bikes.mp4", 9, (640, 272)),
    ("cityCC0.mpg", 9, (720, 405)),  # odd height: the output keeps it exactly
])
def test_it_keeps_the_frame_count_fps_and_size_of_trimmed_real_clips(
        shared_media: Path, trim_clip: TrimClip, tiny_depth: Path, tmp_path: Path, name: str, frames: int,
        size: tuple[int, int]) -> None:
    source = trim_clip(shared_media / name, frames)
    expected = ClipFormat(Fraction(25), *size, frames)
    assert clip_format(source) == expected
    calls: list[tuple[int, int]] = []
    report = extract_depth(source, tmp_path / "depth.mp4", DepthSettings(batch_size=4),
                           load_depth_model(tiny_depth), lambda done, total: calls.append((done, total)))
    assert clip_format(tmp_path / "depth.mp4") == expected
    assert (report.method, report.frames, report.fps, report.width, report.height) == (
        "depth", frames, 25.0, *size)
    assert calls == [(4, frames), (8, frames), (9, frames)]


def test_it_makes_a_gray_depth_video_of_a_whole_real_clip(shared_media: Path, tiny_depth: Path,
                                                          tmp_path: Path) -> None:
    source = shared_media / "carphone_pristine.mp4"  # 120 frames at 29.97 fps, 176x144
    report = extract_depth(source, tmp_path / "depth.mp4", DepthSettings(), load_depth_model(tiny_depth))
    assert clip_format(tmp_path / "depth.mp4") == ClipFormat(Fraction(30000, 1001), 176, 144, 120)
    assert report.frames == 120 and report.empty_frames == 0
    video = frames_of(tmp_path / "depth.mp4").astype(np.int16)
    # Grayscale (up to the encoder's rounding), and the clip-wide range is actually used.
    assert np.abs(video[..., 0] - video[..., 1]).max() <= 2
    assert np.abs(video[..., 1] - video[..., 2]).max() <= 2
    assert video.min() < 30 and video.max() > 225
    assert any("near is bright" in note.lower() for note in report.notes)


def test_it_gives_the_same_video_twice_and_nearly_the_same_in_other_batch_sizes(
        shared_media: Path, trim_clip: TrimClip, tiny_depth: Path, tmp_path: Path) -> None:
    source = trim_clip(shared_media / "bikes.mp4", 5)
    model = load_depth_model(tiny_depth)
    for name, batch_size in (("a.mp4", 8), ("b.mp4", 8), ("c.mp4", 2)):
        extract_depth(source, tmp_path / name, DepthSettings(batch_size=batch_size), model)
    first, again, batched = (frames_of(tmp_path / name).astype(np.int16) for name in ("a.mp4", "b.mp4", "c.mp4"))
    assert np.array_equal(first, again)
    # Other batch sizes change float rounding inside the model (and so a few of the encoder's choices), never
    # the picture.
    difference = np.abs(first - batched)
    assert difference.mean() < 0.2 and np.percentile(difference, 99.9) <= 4


def test_it_flickers_less_with_more_smoothing(shared_media: Path, trim_clip: TrimClip, tiny_depth: Path,
                                              tmp_path: Path) -> None:
    source = trim_clip(shared_media / "bikes.mp4", 12)
    model = load_depth_model(tiny_depth)
    extract_depth(source, tmp_path / "raw.mp4", DepthSettings(smoothing=0), model)
    extract_depth(source, tmp_path / "smooth.mp4", DepthSettings(smoothing=2), model)
    raw, smooth = frames_of(tmp_path / "raw.mp4"), frames_of(tmp_path / "smooth.mp4")
    assert frame_to_frame_change(smooth) < 0.7 * frame_to_frame_change(raw)


def test_it_turns_metric_distance_into_near_is_larger(shared_media: Path, trim_clip: TrimClip,
                                                      tiny_depth: Path) -> None:
    model = load_depth_model(tiny_depth)
    frames = list(frames_of(trim_clip(shared_media / "carphone_pristine.mp4", 2)))
    relative = model.predict(frames)
    model.metric = True
    try:
        metric = model.predict(frames)
    finally:
        model.metric = False
    assert relative.shape == metric.shape and relative.shape[0] == 2
    assert np.allclose(metric, 1.0 / np.maximum(relative, 1e-6))


def test_it_refuses_plainly_when_the_model_sees_no_depth_differences(
        shared_media: Path, trim_clip: TrimClip, tmp_path: Path) -> None:
    model = load_depth_model(build_tiny_depth_model(tmp_path / "flat-model"))
    head = model.model.head.conv3
    with torch.no_grad():  # the model now answers 0.5 everywhere, whatever it is shown
        head.weight.zero_()
        head.bias.fill_(0.5)
    with pytest.raises(ExtractionError, match="no depth differences anywhere in this clip"):
        extract_depth(trim_clip(shared_media / "bikes.mp4", 3), tmp_path / "depth.mp4", DepthSettings(), model)
    assert not (tmp_path / "depth.mp4").exists()


def test_it_turns_a_model_failure_into_a_plain_error(shared_media: Path, trim_clip: TrimClip, tiny_depth: Path,
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_depth_model(tiny_depth)

    class OutOfMemory:
        dtype = torch.float32

        def __call__(self, **kwargs: object) -> None:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model, "model", OutOfMemory())
    with pytest.raises(ExtractionError, match=r"failed on this clip \(CUDA out of memory.*smaller batch size"):
        extract_depth(trim_clip(shared_media / "bikes.mp4", 2), tmp_path / "depth.mp4", DepthSettings(), model)
    assert not (tmp_path / "depth.mp4").exists()


# --- One range per clip ------------------------------------------------------------------------------------------


def test_it_normalises_with_one_range_for_the_whole_clip_not_per_frame() -> None:
    ramp = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    clip = np.stack([ramp, ramp * 10.0])  # the second frame is ten times as near at its nearest
    far, near = depth_range(clip, 0.0, 100.0)
    assert (far, near) == (0.0, 10.0)
    out = normalise(clip, far, near)
    assert out.dtype == np.float32 and out.shape == clip.shape
    assert out[1].max() == 1.0
    assert out[0].max() == pytest.approx(0.1)  # per-frame normalisation would have made it 1.0 too
    assert np.allclose(out[0] * 10.0, out[1])


def test_it_ignores_a_few_extreme_pixels_of_the_clip() -> None:
    clip = np.random.default_rng(0).uniform(1.0, 2.0, (4, 32, 32)).astype(np.float32)
    clip[2, 0, 0] = 1000.0  # one glitch pixel would otherwise squash everything else to black
    far, near = depth_range(clip, 2.0, 98.0)
    assert 1.0 <= far < 1.1 and 1.9 < near <= 2.0
    assert normalise(clip, far, near)[2, 0, 0] == 1.0


def test_it_keeps_a_small_near_object_when_the_percentiles_collapse() -> None:
    clip = np.full((3, 20, 20), 5.0, np.float32)
    clip[:, 9:11, 9:11] = 8.0  # 1 % of the pixels: inside the 98th percentile
    assert depth_range(clip, 2.0, 98.0) == (5.0, 8.0)


def test_it_smooths_flicker_without_shifting_a_steady_scene() -> None:
    rng = np.random.default_rng(1)
    scene = rng.uniform(0.0, 1.0, (16, 16)).astype(np.float32)
    flicker = np.stack([scene + rng.normal(0.0, 0.1, scene.shape).astype(np.float32) for _ in range(24)])
    smooth = np.stack(list(smoothed_frames(flicker, 1.5)))
    assert smooth.shape == flicker.shape
    assert frame_to_frame_change(smooth) < 0.4 * frame_to_frame_change(flicker)
    steady = np.stack([scene] * 6)
    assert np.allclose(np.stack(list(smoothed_frames(steady, 2.0))), steady, atol=1e-6)  # ends keep their level
    assert np.array_equal(np.stack(list(smoothed_frames(flicker, 0))), flicker)


# --- Plain reasons and settings -----------------------------------------------------------------------------------


def test_it_says_plainly_that_depth_needs_an_operator_when_no_model_is_configured() -> None:
    for nothing in (None, ""):
        reason = depth_model_problem(nothing)
        assert reason is not None
        assert "DEPTH_MODEL_PATH" in reason and "upload depth videos" in reason


def test_it_explains_why_a_folder_is_not_a_usable_depth_model(tmp_path: Path, tiny_depth: Path) -> None:
    assert "does not exist" in (depth_model_problem(tmp_path / "missing") or "")
    assert "no config.json" in (depth_model_problem(tmp_path) or "")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    reason = depth_model_problem(wrong) or ""
    assert "'qwen2_5_vl' model" in reason and "Depth Anything" in reason
    (wrong / "config.json").write_text(json.dumps({"model_type": "depth_anything"}))
    assert "no weights" in (depth_model_problem(wrong) or "")
    (wrong / "model.safetensors").write_bytes(b"not really weights")
    assert "preprocessor_config.json" in (depth_model_problem(wrong) or "")


def test_it_refuses_to_load_a_broken_folder_with_a_plain_message(tmp_path: Path, tiny_depth: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        (broken / name).write_bytes((tiny_depth / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"truncated download")
    with pytest.raises(ExtractionError, match="could not be loaded"):
        load_depth_model(broken)
    with pytest.raises(ExtractionError, match="DEPTH_MODEL_PATH"):
        load_depth_model("")


def test_it_fills_in_default_settings_and_reads_form_values() -> None:
    assert DepthSettings.from_dict({}) == DepthSettings()
    assert DepthSettings.from_dict(DepthSettings().as_dict()) == DepthSettings()
    assert DepthSettings.from_dict({"smoothing": "2.5", "batch_size": "16"}) == DepthSettings(smoothing=2.5,
                                                                                              batch_size=16)
    assert DepthSettings().as_dict() == {"smoothing": 1.0, "batch_size": 8, "near_percentile": 98.0,
                                         "far_percentile": 2.0}


@pytest.mark.parametrize(("data", "message"), [
    ({"blur": 3}, "“blur” is not one of the depth settings"),
    ({"smoothing": 9}, "The temporal smoothing must be between 0 and 5 (it is 9)."),
    ({"smoothing": "lots"}, "The temporal smoothing must be a number."),
    ({"batch_size": 0}, "The batch size must be between 1 and 64 (it is 0)."),
    ({"batch_size": 2.5}, "The batch size must be a whole number (it is 2.5)."),
    ({"batch_size": True}, "The batch size must be a whole number."),
    ({"near_percentile": 40}, "The near percentile must be between 50 and 100 (it is 40)."),
    ({"far_percentile": 50, "near_percentile": 50}, "The far percentile must be below the near percentile."),
])
def test_it_refuses_bad_settings_in_plain_words(data: dict[str, object], message: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        DepthSettings.from_dict(data)
    assert message in str(caught.value)
