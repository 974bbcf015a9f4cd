"""Manifests, pair rules, conform + cache, and the per-pair report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.dataset import (
    Bucket,
    Pair,
    PairError,
    check_pair,
    conform_pair,
    load_cache,
    prepare,
    read_manifest,
)
from engine.media import probe

BUCKET = Bucket(width=128, height=128, frames=17, fps=24.0)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "jsonl-old-names"])
def test_it_reads_lightricks_manifests_in_every_format(fmt: str, tmp_path: Path) -> None:
    rows = [{"caption": "a cat", "video": "t.mp4", "reference_video": "clips/r.mp4"}]
    if fmt == "csv":
        path = tmp_path / "m.csv"
        path.write_text("caption,video,reference_video\na cat,t.mp4,clips/r.mp4\n")
    elif fmt == "json":
        path = tmp_path / "m.json"
        path.write_text(json.dumps(rows))
    elif fmt == "jsonl":
        path = tmp_path / "m.jsonl"
        path.write_text(json.dumps(rows[0]) + "\n")
    else:
        path = tmp_path / "m.jsonl"
        path.write_text(json.dumps({"caption": "a cat", "media_path": "t.mp4", "ref_media_path": "clips/r.mp4"}))
    (pair,) = read_manifest(path)
    assert pair == Pair(0, "a cat", (tmp_path / "t.mp4").resolve(), (tmp_path / "clips/r.mp4").resolve())


def test_a_manifest_row_without_a_reference_is_an_error_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"caption": "ok", "video": "a.mp4", "reference_video": "b.mp4"}\n{"caption": "x", "video": "c.mp4"}\n'
    )
    with pytest.raises(PairError, match=r"pair 2 in m\.jsonl: no reference_path or reference_video or ref_media_path"):
        read_manifest(path)


def test_it_rejects_pairs_with_different_fps(clip_factory: Any) -> None:
    pair = Pair(0, "", clip_factory("fps24", 3, fps=24.0), clip_factory("fps30", 3, fps=30.0))
    with pytest.raises(
        PairError, match=r"pair 1 \(fps24.mp4 <- fps30.mp4\): different frame rates, target 24 fps vs reference 30 fps"
    ):
        check_pair(pair, BUCKET, 1)


def test_a_variable_frame_rate_clip_is_paired_by_its_frames_not_its_average_rate(tmp_path: Path) -> None:
    # A reference another app exported at the clip's average rate: the two ways of averaging differ a little,
    # which is no reason to refuse the pair (the wizard warns that it may drift instead).
    from tests.helpers import variable_rate_clip

    phone = variable_rate_clip(tmp_path / "phone.mp4")
    steady = tmp_path / "steady.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(phone), "-vf", "setpts=N*3/70/TB", "-fps_mode", "passthrough",
                    "-r", "70/3", "-c:v", "libx264", str(steady)], check=True)  # every frame, evenly re-timed
    assert probe(phone).variable_rate and not probe(steady).variable_rate
    assert abs(probe(phone).fps - probe(steady).fps) > 0.01
    target, _ref, _ = check_pair(Pair(0, "", phone, steady), Bucket(128, 96, 41, 24.0), 1)
    assert target.frames == 70


def test_it_rejects_pairs_of_different_lengths(clip_factory: Any) -> None:
    pair = Pair(4, "", clip_factory("len1s", 3, seconds=1.0), clip_factory("len2s", 3, seconds=2.0))
    with pytest.raises(PairError, match=r"pair 5 .*different lengths, target 24 frames vs reference 48 frames"):
        check_pair(pair, BUCKET, 1)


def test_a_still_image_reference_is_accepted_and_conformed_to_one_frame(clip_factory: Any, tmp_path: Any) -> None:
    import subprocess

    still = tmp_path / "face.png"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_factory("len2s", 3, seconds=2.0)),
                    "-frames:v", "1", str(still)], check=True)
    pair = Pair(0, "", clip_factory("fps30", 3, fps=30.0), still)
    _, _, actions = check_pair(pair, BUCKET, 1)
    assert "reference is a still image (one frame)" in actions
    target, reference, _ = conform_pair(pair, BUCKET, 1)
    assert reference.shape[0] == 1 and target.shape[0] == BUCKET.frames


def test_it_rejects_pairs_with_different_aspect_ratios(clip_factory: Any) -> None:
    pair = Pair(0, "", clip_factory("wide", 3, width=256, height=128), clip_factory("square", 3, width=128, height=128))
    with pytest.raises(PairError, match="different aspect ratios, target 256x128 vs reference 128x128"):
        check_pair(pair, BUCKET, 1)


def test_it_rejects_clips_shorter_than_the_bucket_instead_of_skipping_them(clip_factory: Any) -> None:
    pair = Pair(0, "", clip_factory("tiny_t", 3, seconds=0.5), clip_factory("tiny_r", 3, seconds=0.5))
    with pytest.raises(PairError, match=r"too short, 0.50 s gives 12 frames at 24 fps, the bucket needs 17"):
        check_pair(pair, BUCKET, 1)


def test_it_rejects_unreadable_files_naming_the_pair(clip_factory: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    pair = Pair(2, "", clip_factory("fine", 3), broken)
    with pytest.raises(PairError, match=r"pair 3 \(fine.mp4 <- broken.mp4\): broken.mp4: not a readable video"):
        check_pair(pair, BUCKET, 1)


def test_prepare_checks_every_pair_before_encoding_anything(load_tiny: Any, clip_factory: Any, tmp_path: Path) -> None:
    good = Pair(0, "", clip_factory("good_t", 4), clip_factory("good_r", 4, degrade=True))
    bad = Pair(1, "", clip_factory("good_t", 4), tmp_path / "missing.mp4")
    with pytest.raises(PairError, match=r"pair 2 .*file not found"):
        prepare(load_tiny(), [good, bad], BUCKET, tmp_path / "cache", max_sequence_length=32)
    assert not list((tmp_path / "cache").glob("*.safetensors"))


def test_prepare_caches_latents_and_text_once_and_reports_what_it_did(
    load_tiny: Any, three_pairs: Path, tmp_path: Path
) -> None:
    pipe = load_tiny()
    pairs = read_manifest(three_pairs)
    reports = prepare(pipe, pairs, BUCKET, tmp_path / "cache", downscale=2, trigger="RESTORE", max_sequence_length=32)
    assert [r.cached for r in reports] == [False, False, False]
    assert reports[0].actions == [
        "resize and centre-crop target 160x128 -> 128x128",
        "resize and centre-crop reference 160x128 -> 64x64",
        "keep the first 17 of 24 frames",
    ]
    assert reports[0].source["target"]["fps"] == 24.0
    cached = load_cache(tmp_path / "cache")
    assert cached[0].target_latents.shape == (32, 3, 4, 4)
    assert cached[0].reference_latents.shape == (32, 3, 2, 2)
    assert cached[0].video_prompt_embeds.shape[0] == 32
    assert cached[0].caption == "RESTORE restored clip 0"

    # A second prepare encodes nothing: the VAE is not even called.
    def fail(*_: Any, **__: Any) -> None:
        raise AssertionError("encoded again")

    pipe.vae.encode = fail
    again = prepare(pipe, pairs, BUCKET, tmp_path / "cache", downscale=2, trigger="RESTORE", max_sequence_length=32)
    assert [r.cached for r in again] == [True, True, True]
    assert torch.equal(load_cache(tmp_path / "cache")[1].target_latents, cached[1].target_latents)


def test_real_restoration_pair_from_ntsc_footage_is_conformed(
    load_tiny: Any, shared_media: Path, tmp_path: Path
) -> None:
    pair = Pair(0, "a man in a car", shared_media / "carphone_pristine.mp4", shared_media / "carphone_distorted.mp4")
    (report,) = prepare(load_tiny(), [pair], BUCKET, tmp_path / "cache", max_sequence_length=32)
    assert report.actions[0] == "resample 29.97 -> 24 fps"


LANDSCAPE = Bucket(width=128, height=96, frames=17, fps=24.0)
PORTRAIT = Bucket(width=96, height=128, frames=17, fps=24.0)


def test_each_pair_is_cached_in_its_own_bucket_and_moves_when_its_bucket_is_removed(
    load_tiny: Any, mixed_pairs: Path, tmp_path: Path
) -> None:
    pipe = load_tiny()
    pairs = read_manifest(mixed_pairs)
    reports = prepare(pipe, pairs, [LANDSCAPE, PORTRAIT], tmp_path / "cache", max_sequence_length=32)
    assert [r.bucket for r in reports] == ["128x96x17@24", "128x96x17@24", "96x128x17@24", "96x128x17@24"]
    assert reports[2].bucket_reason == "closest aspect ratio to 96x128 (0.75 vs 0.75)"
    assert reports[2].actions == ["keep the first 17 of 24 frames"]  # already the bucket's size: no crop
    cached = load_cache(tmp_path / "cache")
    assert [tuple(c.target_latents.shape) for c in cached] == [(32, 3, 3, 4)] * 2 + [(32, 3, 4, 3)] * 2
    assert [c.bucket for c in cached] == [LANDSCAPE, LANDSCAPE, PORTRAIT, PORTRAIT]

    # Without the portrait bucket, only the portrait pairs are encoded again: cropped into the landscape one.
    again = prepare(pipe, pairs, [LANDSCAPE], tmp_path / "cache", max_sequence_length=32)
    assert [r.cached for r in again] == [True, True, False, False]
    assert again[3].bucket == "128x96x17@24" and again[3].bucket_reason == "the only bucket"
    assert "resize and centre-crop target 96x128 -> 128x96" in again[3].actions
    assert {tuple(c.target_latents.shape) for c in load_cache(tmp_path / "cache")} == {(32, 3, 3, 4)}


def test_a_pair_too_short_for_every_bucket_is_an_error_naming_the_shortest_bucket(clip_factory: Any) -> None:
    from engine.dataset import plan_pair

    pair = Pair(0, "", clip_factory("tiny_t", 3, seconds=0.5), clip_factory("tiny_r", 3, seconds=0.5))
    longer = Bucket(width=96, height=128, frames=25, fps=24.0)
    with pytest.raises(PairError, match=r"too short, 0.50 s gives 12 frames at 24 fps, every bucket is longer: "
                                        r"the shortest needs 17 \(0.71 s\)"):
        plan_pair(pair, [BUCKET, longer], 1)



def test_with_whole_clips_a_long_pair_gives_back_to_back_windows(
    load_tiny: Any, clip_factory: Any, tmp_path: Path
) -> None:
    # 3 s at 24 fps = 72 frames: four whole windows of 17, one frame kept spare at the end.
    target = clip_factory("long_target", 5, seconds=3.0)
    reference = clip_factory("long_reference", 5, seconds=3.0, degrade=True)
    short = (clip_factory("short_target", 6), clip_factory("short_reference", 6, degrade=True))
    pairs = [Pair(0, "a long clip", target, reference), Pair(1, "a short one", *short)]

    reports = prepare(load_tiny(), pairs, BUCKET, tmp_path / "cache", max_sequence_length=32, whole_clips=True)

    assert [(r.index, round(r.start * 24)) for r in reports] == [(0, 0), (0, 17), (0, 34), (0, 51), (1, 0)]
    assert reports[0].actions[-1] == "cut 72 frames into 4 clips of 17"
    assert len(load_cache(tmp_path / "cache", rows=[0])) == 4
    assert len(load_cache(tmp_path / "cache", rows=[1])) == 1
    windows = load_cache(tmp_path / "cache", rows=[0])
    assert not torch.equal(windows[0].target_latents, windows[1].target_latents)


def test_a_window_is_exactly_the_frames_that_follow_the_one_before(clip_factory: Any) -> None:
    from engine.media import conform

    clip = clip_factory("long_target", 5, seconds=3.0)
    straight = conform(clip, 24.0, 128, 128, 51)

    for k in (1, 2):
        window = conform(clip, 24.0, 128, 128, 17, start=round(k * 17 / 24, 6))
        assert (window == straight[17 * k:17 * (k + 1)]).all(), f"window {k} is not frames {17 * k}-{17 * k + 16}"


def test_without_whole_clips_a_long_pair_trains_on_its_start_only(
    load_tiny: Any, clip_factory: Any, tmp_path: Path
) -> None:
    pair = Pair(0, "a long clip", clip_factory("long_target", 5, seconds=3.0),
                clip_factory("long_reference", 5, seconds=3.0, degrade=True))

    (report,) = prepare(load_tiny(), [pair], BUCKET, tmp_path / "cache", max_sequence_length=32)

    assert report.actions[-1] == "keep the first 17 of 72 frames" and report.start == 0
