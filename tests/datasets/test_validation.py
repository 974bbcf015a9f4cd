"""Every per-clip and per-pair rule, on clips made with ffmpeg (and on real footage when it is there)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from datasets.decoding import decode_to_end
from datasets.services import meta_summary
from datasets.validation import (
    Shape,
    assigned_shape,
    check_against_shape,
    check_clip,
    check_pair,
    largest_frames_at_most,
    status_of,
)
from tests.clips import NO_REAL_MEDIA, REAL_MEDIA, spliced, stored_sideways, truncate
from tests.helpers import hdr_copy, variable_rate_clip


def codes(findings) -> set[str]:
    return {f.code for f in findings}


def pair_findings(target_path, reference_path, reference_is_image=False):
    target = check_clip(target_path, "target", "video")
    reference = check_clip(reference_path, "reference", "image" if reference_is_image else "video")
    found = [*target.findings, *reference.findings]
    if target.usable and reference.usable:
        found += check_pair(target.meta, reference.meta, reference_is_image)
    return target, reference, found


def test_a_clean_pair_passes_with_its_facts_recorded(clips):
    target, _, found = pair_findings(clips("t.mp4"), clips.ref())
    assert found == []
    assert status_of(found) == "ok"
    assert target.meta["frames"] == 48 and target.meta["decoded_frames"] == 48
    assert target.meta["fps"] == 24 and (target.meta["width"], target.meta["height"]) == (160, 128)
    assert target.meta["duration"] == pytest.approx(2.0, abs=0.05)


def test_it_rejects_pairs_with_different_fps(clips):
    _, _, found = pair_findings(clips("t.mp4", fps=24), clips("r.mp4", fps=30, frames=48))
    assert "fps_mismatch" in codes(found)
    message = next(f for f in found if f.code == "fps_mismatch")
    assert message.level == "error" and "24 fps" in message.text and "30 fps" in message.text


def test_it_rejects_pairs_of_different_lengths(clips):
    _, _, found = pair_findings(clips("t.mp4", frames=48), clips("r.mp4", frames=40))
    assert "length_mismatch" in codes(found)
    assert "48 frames" in next(f.text for f in found if f.code == "length_mismatch")


def test_it_rejects_pairs_with_different_aspect_ratios(clips):
    _, _, found = pair_findings(clips("t.mp4", width=192, height=108), clips("r.mp4", width=128, height=128))
    error = next(f for f in found if f.code == "aspect_mismatch")
    assert error.level == "error" and "16:9" in error.text and "1:1" in error.text


def test_a_reference_at_half_size_with_the_same_shape_is_fine(clips):
    _, _, found = pair_findings(clips("t.mp4", width=320, height=192), clips("r.mp4", width=160, height=96))
    assert found == []


def test_a_phone_clip_stored_sideways_is_checked_as_it_plays(clips, tmp_path):
    # A portrait phone clip (landscape pixels + rotation) paired with an upright portrait reference, e.g. a depth
    # video made from it: the same shape, so no shape error, and it goes to the portrait training shape.
    phone = stored_sideways(clips("coded.mp4", width=320, height=192), tmp_path / "phone.mp4")
    target, _, found = pair_findings(phone, clips("upright.mp4", width=192, height=320))
    assert (target.meta["width"], target.meta["height"]) == (192, 320)
    assert "aspect_mismatch" not in codes(found)
    shapes = [Shape(512, 320, 41, 24.0), Shape(320, 512, 41, 24.0)]
    assert assigned_shape(target.meta, shapes) == shapes[1]


def test_hdr_phone_video_is_accepted_and_said_to_be_converted(clips, tmp_path):
    hlg = hdr_copy(clips("t.mp4"), tmp_path / "hlg.mp4", "hlg")
    target, _, found = pair_findings(hlg, clips.ref())
    assert target.usable and target.meta["hdr"] == "hlg"
    assert [(f.level, f.code) for f in found] == [("info", "hdr")]
    assert "HLG" in found[0].text and "standard colours" in found[0].text


def test_an_edge_video_made_from_a_variable_frame_rate_phone_clip_pairs_with_it(tmp_path):
    from prep.extract.canny import CannySettings, extract_canny

    # The edge video keeps the phone clip's own frame times (tests/prep/test_video.py); its measured rate and
    # length must still equal the clip's, or the pair would be refused.
    phone = variable_rate_clip(tmp_path / "phone.mp4")
    extract_canny(phone, tmp_path / "edges.mp4", CannySettings())
    _, _, found = pair_findings(phone, tmp_path / "edges.mp4")
    assert found == []


def test_a_variable_frame_rate_clip_with_a_constant_rate_reference_is_warned_about(tmp_path):
    from prep.extract.video import FrameWriter, clip_format, read_frames

    phone = variable_rate_clip(tmp_path / "phone.mp4")
    fmt = clip_format(phone)
    steady = replace(fmt, frame_pts=None, time_base=None)  # as another app would export it: the average rate
    with FrameWriter(tmp_path / "steady.mp4", steady) as writer:
        for frame in read_frames(phone, fmt):
            writer.write(frame)
    target, _, found = pair_findings(phone, tmp_path / "steady.mp4")
    assert target.meta["variable_rate"] is True
    assert [(f.level, f.code) for f in found] == [("warning", "variable_rate")]
    assert "Let ICLoRA Studio make the reference" in found[0].text


def test_it_rejects_a_truncated_clip(clips, tmp_path):
    broken = truncate(clips("long.mp4", frames=96), tmp_path / "broken.mp4", keep=0.4)
    check = check_clip(broken, "target", "video")
    assert "truncated" in codes(check.findings)
    assert "incomplete" in check.findings[0].text


def test_it_rejects_a_file_that_is_not_a_video_whatever_its_name(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is a shopping list, not a video\n")
    check = check_clip(fake, "target", "video")
    assert [(f.level, f.code) for f in check.findings] == [("error", "not_video")]
    assert "text" in check.findings[0].text


def test_it_rejects_a_still_image_as_target(clips):
    check = check_clip(clips.image("still.png"), "target", "video")
    assert codes(check.findings) == {"not_video"} and "still image" in check.findings[0].text


def test_a_one_frame_8k_clip_is_refused_as_a_target_for_being_a_still_and_far_too_large(clips):
    check = check_clip(clips("huge.mp4", width=7680, height=4320, frames=1), "target", "video")

    assert [(f.level, f.code) for f in check.findings] == [("error", "too_few_frames"), ("error", "too_large")]
    assert check.findings[0].text.startswith("Target: this clip is a single frame, a still picture.")
    assert "Target: 7680×4320 is far larger than training uses" in check.findings[1].text
    assert "4096 pixels or less on its long side" in check.findings[1].text
    assert not check.usable and status_of(check.findings) == "error"


def test_a_target_needs_as_many_frames_as_the_shortest_training_length(clips):
    eight = check_clip(clips("eight.mp4", frames=8), "target", "video")
    nine = check_clip(clips("nine.mp4", frames=9), "target", "video")

    assert [(f.level, f.code) for f in eight.findings] == [("error", "too_few_frames")]
    assert "only 8 frames" in eight.findings[0].text and "at least 9 frames" in eight.findings[0].text
    assert "too_few_frames" not in codes(nine.findings)


def test_a_video_is_refused_above_4096_pixels_on_its_long_side_target_or_reference(clips):
    widest_kept = check_clip(clips("edge.mp4", width=4096, height=64, frames=9), "target", "video")
    too_wide = check_clip(clips("over.mp4", width=4128, height=64, frames=9), "reference", "video")
    too_tall = check_clip(clips("tall.mp4", width=64, height=4128, frames=9), "target", "video")

    assert "too_large" not in codes(widest_kept.findings)
    assert [(f.level, f.code) for f in too_wide.findings] == [("error", "too_large")]
    assert too_wide.findings[0].text.startswith("Reference: 4128×64 is far larger")
    assert "too_large" in codes(too_tall.findings)


def test_it_rejects_a_damaged_header_as_unreadable(tmp_path, clips):
    data = bytearray(clips("t.mp4").read_bytes())
    data[40:4000] = b"\x00" * (4000 - 40)  # keeps the ftyp box, wipes the rest of the header
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    check = check_clip(bad, "target", "video")
    assert codes(check.findings) & {"unreadable", "truncated"}
    assert not check.usable


def test_audio_is_noted_as_ignored_and_does_not_block(clips):
    check = check_clip(clips("loud.mp4", audio=True), "target", "video")
    assert [(f.level, f.code) for f in check.findings] == [("info", "audio")]
    assert status_of(check.findings) == "ok"


def test_identity_accepts_a_still_image_reference(clips):
    _, reference, found = pair_findings(clips("t.mp4"), clips.image("face.png"), reference_is_image=True)
    assert found == [] and reference.meta["frames"] == 1


def test_a_damaged_photo_is_refused_in_plain_words_without_server_paths(tmp_path):
    broken = tmp_path / "face.heic"
    broken.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x01" * 500)
    check = check_clip(broken, "reference", "image")
    [finding] = check.findings
    assert (finding.level, finding.code) == ("error", "unreadable")
    assert finding.text.startswith("Reference: the file cannot be read as an image (")
    assert "Save it again as PNG or JPG." in finding.text and str(tmp_path) not in finding.text


def test_identity_rejects_a_video_as_its_still_reference(clips):
    _, _, found = pair_findings(clips("t.mp4"), clips("r.mp4"), reference_is_image=True)
    assert codes(found) == {"not_still"}


def test_full_decode_counts_every_frame(clips):
    decoded = decode_to_end(clips("t.mp4", frames=33))
    frames, errors = decoded.frames, decoded.errors
    assert (frames, errors) == (33, [])


SHAPE = Shape(width=128, height=96, frames=33, fps=24)


def meta(**overrides):
    return {"width": 160, "height": 128, "fps": 24.0, "frames": 48, "duration": 2.0, **overrides}


def test_a_clip_shorter_than_the_bucket_is_rejected_with_a_length_that_fits():
    found = check_against_shape(meta(frames=30, duration=1.25), SHAPE)
    error = next(f for f in found if f.code == "too_short")
    assert error.level == "error" and "Choose 25 frames or fewer" in error.text


def test_a_longer_clip_is_trimmed_and_a_different_fps_resampled_without_blocking():
    found = check_against_shape(meta(fps=30.0, frames=120, duration=4.0), SHAPE)
    assert {"trimmed", "resampled"} <= codes(found)
    assert status_of(found) == "ok"


def test_a_long_clip_says_how_many_training_clips_it_gives_with_whole_clips():
    # 4 s at 30 fps is 96 frames at 24: two whole windows of 33 and a spare frame.
    long_clip = meta(fps=30.0, frames=120, duration=4.0)

    whole = next(f for f in check_against_shape(long_clip, SHAPE, whole_clips=True) if f.code == "windows")
    start_only = next(f for f in check_against_shape(long_clip, SHAPE) if f.code == "trimmed")

    assert whole.text == "Gives 2 training clips of 1.38 s, one after another, from its 4.00 s."
    assert start_only.text == ("Training uses the first 1.38 s (33 frames) of 4.00 s. Turn on “Use all of each "
                               "clip” in the settings to train on 2 clips from it.")


def test_a_clip_of_another_shape_is_cropped_and_says_how_much():
    found = check_against_shape(meta(width=400, height=100, duration=2.0), Shape(128, 128, 33, 24))
    cropped = next(f for f in found if f.code == "cropped")
    assert cropped.level == "warning" and "75%" in cropped.text and "left and right" in cropped.text


def test_a_clip_much_smaller_than_the_bucket_is_flagged_too_small():
    found = check_against_shape(meta(width=160, height=128), Shape(768, 448, 33, 24))
    assert "too_small" in codes(found) and status_of(found) == "warning"


def test_frame_counts_round_down_to_8n_plus_1():
    assert [largest_frames_at_most(n) for n in (0, 1, 8, 9, 16, 17, 96, 121)] == [0, 1, 1, 9, 9, 17, 89, 121]


real = pytest.mark.skipif(not REAL_MEDIA.is_dir(), reason=NO_REAL_MEDIA)


@real
def test_the_real_carphone_restoration_pair_is_valid():
    _, _, found = pair_findings(REAL_MEDIA / "carphone_pristine.mp4", REAL_MEDIA / "carphone_distorted.mp4")
    assert status_of(found) == "ok"


@real
def test_real_ntsc_footage_is_too_short_for_121_frames_at_24_fps_and_89_is_suggested():
    target = check_clip(REAL_MEDIA / "carphone_pristine.mp4", "target", "video")
    assert target.meta["frames"] == 120 and target.meta["fps"] == pytest.approx(29.97, abs=0.01)
    found = check_against_shape(target.meta, Shape(768, 448, 121, 24))
    assert "Choose 89 frames or fewer" in next(f.text for f in found if f.code == "too_short")
    assert "too_small" in codes(check_against_shape(target.meta, Shape(768, 448, 89, 24)))


@real
def test_real_mpeg2_footage_decodes_to_the_end():
    check = check_clip(REAL_MEDIA / "cityCC0.mpg", "target", "video")
    assert check.usable and check.meta["decoded_frames"] == check.meta["frames"] == 190


@real
def test_real_pairs_of_different_shapes_and_rates_are_rejected():
    _, _, found = pair_findings(REAL_MEDIA / "bikes.mp4", REAL_MEDIA / "carphone_pristine.mp4")
    assert {"fps_mismatch", "length_mismatch", "aspect_mismatch"} <= codes(found)


@real
def test_a_truncated_real_clip_is_rejected(tmp_path):
    broken = truncate(REAL_MEDIA / "bikes.mp4", tmp_path / "bikes.mp4", keep=0.5)
    assert not check_clip(broken, "target", "video").usable


def test_a_target_with_a_cut_is_warned_where_the_shot_changes(clips, tmp_path):
    cut = spliced(clips("a.mp4", frames=24), clips("b.mp4", frames=24, source="mandelbrot"), tmp_path / "cut.mp4")

    found = check_clip(cut, "target", "video").findings

    [warning] = [f for f in found if f.code == "scene_cut"]
    assert warning.level == "warning" and warning.text.startswith("The shot changes at 1 s.")


def test_a_reference_is_not_judged_by_its_shots(clips, tmp_path):
    cut = spliced(clips("a.mp4", frames=24), clips("b.mp4", frames=24, source="mandelbrot"), tmp_path / "cut.mp4")

    assert "scene_cut" not in codes(check_clip(cut, "reference", "video").findings)


def test_a_target_that_never_moves_is_warned(clips):
    still = clips("still.mp4", source="smptebars")  # a test card: the same picture in every frame

    [warning] = [f for f in check_clip(still, "target", "video").findings if f.code == "frozen"]

    assert warning.text.startswith("The picture stands still for 2.0 s of 2.0 s.")


def test_a_continuous_moving_shot_gets_neither_warning(clips):
    assert not {"scene_cut", "frozen"} & codes(check_clip(clips("t.mp4"), "target", "video").findings)


@pytest.mark.skipif(not REAL_MEDIA.exists(), reason=NO_REAL_MEDIA)
def test_real_montage_footage_has_its_cuts_found_and_a_single_shot_none():
    montage = check_clip(REAL_MEDIA / "bikes.mp4", "target", "video").findings
    single = check_clip(REAL_MEDIA / "carphone_pristine.mp4", "target", "video").findings

    [cuts] = [f for f in montage if f.code == "scene_cut"]
    assert cuts.text.startswith("The shot changes at 1.2 s, 3.04 s, 5.48 s and 2 more.")
    assert "scene_cut" not in codes(single)


def test_a_pairs_summary_rounds_a_phones_measured_frame_rate() -> None:
    meta = {"width": 1080, "height": 1920, "fps": 30.120482, "frames": 151, "duration": 5.013}
    assert meta_summary(meta) == "1080×1920 · 30.12 fps · 151 frames · 5.0 s"
