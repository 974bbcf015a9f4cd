"""Attention mask presets and uploaded masks: shape (1, 1, F, H, W), values in [0, 1]."""

from __future__ import annotations

import subprocess

import pytest
import torch

from studio import masks


def test_the_whole_frame_preset_is_ones_of_the_right_shape():
    mask = masks.whole_frame(17, 48, 64)
    assert mask.shape == (1, 1, 17, 48, 64) and mask.dtype == torch.float32
    assert torch.equal(mask, torch.ones_like(mask))


def test_fade_in_rises_from_zero_to_one_over_the_first_n_frames_then_stays_at_one():
    mask = masks.fade_in(17, 8, 8, over=8)
    per_frame = mask[0, 0, :, 0, 0]
    assert mask.shape == (1, 1, 17, 8, 8)
    assert per_frame[0] == 0 and per_frame[4] == pytest.approx(0.5) and per_frame[8] == 1
    assert torch.all(per_frame[8:] == 1) and torch.all(per_frame.diff() >= 0)
    assert torch.equal(mask[0, 0, 3], torch.full((8, 8), per_frame[3].item()))  # the same over the frame


def test_a_region_is_one_inside_and_zero_outside_and_can_be_inverted():
    box = masks.Region(left=0.25, top=0.5, right=0.75, bottom=1.0)
    mask = masks.region(9, 32, 64, box)
    assert mask.shape == (1, 1, 9, 32, 64)
    assert mask[0, 0, 0, 16:, 16:48].min() == 1 and mask[0, 0, 0, :16].max() == 0
    assert mask[0, 0, :, :, :16].max() == 0 and mask.sum() == 9 * 16 * 32
    inverted = masks.region(9, 32, 64, box, invert=True)
    assert torch.equal(inverted, 1 - mask)


@pytest.mark.parametrize(
    ("box", "message"),
    [(masks.Region(0.8, 0, 0.2, 1), "empty"), (masks.Region(-0.1, 0, 0.5, 1), "between 0% and 100%")],
)
def test_an_impossible_region_is_refused(box, message):
    with pytest.raises(masks.MaskError, match=message):
        masks.region(9, 32, 32, box)


def test_an_uploaded_image_mask_applies_to_every_frame(tmp_path):
    path = tmp_path / "mask.png"  # left half white, right half black
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=black:s=64x32", "-vf",
                    "drawbox=x=0:y=0:w=32:h=32:color=white:t=fill", "-frames:v", "1", str(path)], check=True)
    mask = masks.from_file(path, frames=9, height=16, width=32)
    assert mask.shape == (1, 1, 9, 16, 32)
    assert mask.min() >= 0 and mask.max() <= 1
    assert mask[0, 0, :, :, :14].mean() > 0.95 and mask[0, 0, :, :, 18:].mean() < 0.05
    assert torch.equal(mask[0, 0, 0], mask[0, 0, 8])


def test_an_uploaded_video_mask_follows_time_and_holds_its_last_frame(tmp_path):
    path = tmp_path / "mask.mp4"  # 0.25 s black then white, at 24 fps: 12 frames
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=black:s=32x32:r=24:d=0.125",
                    "-f", "lavfi", "-i", "color=white:s=32x32:r=24:d=0.125", "-filter_complex",
                    "[0][1]concat=n=2:v=1", "-pix_fmt", "yuv420p", str(path)], check=True)
    mask = masks.from_file(path, frames=17, height=8, width=8, fps=24)
    per_frame = mask[0, 0, :, 4, 4]
    assert mask.shape == (1, 1, 17, 8, 8)
    assert per_frame[0] < 0.1 and per_frame[10] > 0.9 and per_frame[16] > 0.9  # last frame held


def test_a_file_that_is_not_an_image_or_video_is_refused_plainly(tmp_path):
    path = tmp_path / "mask.png"
    path.write_bytes(b"not an image at all")
    with pytest.raises(masks.MaskError, match="not a readable image or video"):
        masks.from_file(path, 9, 8, 8)


def test_saved_settings_build_the_matching_mask():
    assert masks.build({"mask_preset": "whole"}, 9, 8, 8) is None
    fade = masks.build({"mask_preset": "fade_in", "mask_fade_frames": 4}, 9, 8, 8)
    assert fade is not None and fade[0, 0, 2, 0, 0] == pytest.approx(0.5)
    region = masks.build({"mask_preset": "region", "mask_left": 0, "mask_top": 0, "mask_right": 0.5,
                          "mask_bottom": 1, "mask_invert": False}, 9, 8, 8)
    assert region is not None and region[0, 0, 0, :, :4].min() == 1 and region[0, 0, 0, :, 4:].max() == 0
    with pytest.raises(masks.MaskError, match="Choose a mask"):
        masks.build({"mask_preset": "upload"}, 9, 8, 8)
