"""A run's settings translated to another base's rules (training.translate), with what changed in a creator's words:
with the real LTX-2.3 and LTX-2.5 records, and with made-up bases whose rules differ, so the rounding and the moving
of defaults really run."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from engine.bases import LTX23, LTX25, Base
from engine.config import TrainConfig
from training.translate import round_frames, round_side, translate_config


def wizard_config(**overrides: Any) -> dict[str, Any]:
    """A run config as the wizard writes one (wizard.plan.to_train_config): the Quick test preset on LTX-2.3, two
    orientations, left at the defaults but for the steps."""
    config: dict[str, Any] = {
        "held_out_pairs": [],
        "bucket": {"width": 512, "height": 288, "frames": 49, "fps": 24.0},
        "extra_buckets": [{"width": 288, "height": 512, "frames": 49, "fps": 24.0}],
        "data": {"reference_downscale_factor": 1, "trigger": "RESTORE", "whole_clips": True},
        "lora": {"rank": 32},
        "optim": {"steps": 2000, "learning_rate": 2e-4},
        "diffusion": {"first_frame_conditioning_p": 0.1, "audio": "isolated"},
        "checkpoint": {"every": 250},
        "validation": {"every": 250, "prompts": ["a restored street"], "reference_videos": ["users/1/ref.mp4"]},
        "export": {"name": "run-1", "recipe": "restoration"},
    }
    for key, value in overrides.items():
        config[key] = value
    return config


def other_base(spatial: int = 32, temporal: int = 8, **training: Any) -> Base:
    """LTX-2.5 with other shape rules or training defaults: what a later base could change."""
    return LTX25.model_copy(update={
        "shapes": LTX25.shapes.model_copy(update={"spatial_compression": spatial, "temporal_compression": temporal}),
        "training": LTX25.training.model_copy(update=training),
    })


def engine_accepts(config: dict[str, Any]) -> None:
    raw = copy.deepcopy(config)
    raw.pop("held_out_pairs", None)
    TrainConfig.model_validate({**raw, "output_dir": "run", "data": {**raw["data"], "manifest": "m.jsonl"}})


def test_from_ltx_2_3_to_ltx_2_5_the_settings_stay_and_the_summary_says_why_and_names_the_new_text_encoder():
    config = wizard_config()
    new, changes = translate_config(config, LTX23, LTX25)
    assert new == config and new is not config
    assert changes == [
        "Clips stay 512×288 and 288×512, 49 frames: LTX-2.5 uses the same sizes.",
        "Adapter capacity (rank), learning rate, training steps, first-frame practice and audio stay as they were: "
        "LTX-2.5 starts from the same defaults as LTX-2.3.",
        "Captions will be read by LTX-2.5's own text encoder (Lightricks' fine-tuned Gemma 4), so they are encoded "
        "again before training; your captions and trigger phrase stay as you wrote them.",
    ]
    back, back_changes = translate_config(new, LTX25, LTX23)
    assert back == config
    assert back_changes[-1].startswith("Captions will be read by LTX-2.3's own text encoder (Google's Gemma 3)")


def test_the_same_text_encoder_is_said_to_read_the_captions_as_before():
    _, changes = translate_config(wizard_config(), LTX23, LTX23.model_copy(update={"title": "LTX-2.3 again"}))
    assert changes[-1] == ("Captions are read by the same text encoder as on LTX-2.3; your captions stay as you "
                           "wrote them.")


def test_sizes_are_rounded_to_a_base_that_works_in_blocks_of_64_pixels():
    config = wizard_config(data={"reference_downscale_factor": 1})
    new, changes = translate_config(config, LTX23, other_base(spatial=64))
    assert new["bucket"] == {"width": 512, "height": 320, "frames": 49, "fps": 24.0}
    assert new["extra_buckets"] == [{"width": 320, "height": 512, "frames": 49, "fps": 24.0}]
    assert changes[0] == ("Clips change from 512×288 and 288×512, 49 frames to 512×320 and 320×512, 49 frames: "
                          "LTX-2.5 works in blocks of 64 pixels (LTX-2.3 in blocks of 32).")
    assert config["bucket"]["height"] == 288  # the source run's settings are left as they are
    engine_accepts(new)


def test_a_half_size_reference_rounds_to_twice_the_block():
    config = wizard_config(data={"reference_downscale_factor": 2}, extra_buckets=[])
    config["bucket"] = {"width": 768, "height": 448, "frames": 49, "fps": 24.0}
    new, changes = translate_config(config, LTX23, other_base(spatial=64))
    assert (new["bucket"]["width"], new["bucket"]["height"]) == (768, 512)
    assert "and the reference at 1/2 size needs blocks of 128" in changes[0]
    assert new["extra_buckets"] == []


def test_frames_are_rounded_down_to_a_base_that_packs_16_frames_so_every_clip_is_still_long_enough():
    new, changes = translate_config(wizard_config(), LTX23, other_base(temporal=16))
    assert new["bucket"]["frames"] == new["extra_buckets"][0]["frames"] == 49  # 16 x 3 + 1
    new, changes = translate_config(
        wizard_config(bucket={"width": 512, "height": 288, "frames": 57, "fps": 24.0}, extra_buckets=[]),
        LTX23, other_base(temporal=16))
    assert new["bucket"]["frames"] == 49
    assert changes[0] == ("Clips change from 512×288, 57 frames to 512×288, 49 frames: LTX-2.5 packs frames as 1 + a "
                          "multiple of 16, so clips get fewer frames, never more, and every clip is still long enough.")
    engine_accepts(new)


def test_clips_shorter_than_one_step_of_the_new_base_get_its_shortest_clip_with_motion():
    config = wizard_config(bucket={"width": 512, "height": 288, "frames": 9, "fps": 24.0}, extra_buckets=[])
    new, changes = translate_config(config, LTX23, other_base(temporal=16))
    assert new["bucket"]["frames"] == 17
    assert "LTX-2.5 packs frames as 1 + a multiple of 16, and its shortest clip with motion has 17 frames" in changes[0]


def test_two_shapes_that_round_to_the_same_one_train_as_one():
    config = wizard_config(extra_buckets=[{"width": 512, "height": 320, "frames": 49, "fps": 24.0}])
    new, changes = translate_config(config, LTX23, other_base(spatial=64))
    assert new["bucket"] == {"width": 512, "height": 320, "frames": 49, "fps": 24.0}
    assert new["extra_buckets"] == []
    assert "Two of the shapes both became 512×320, so the clips of both train at it." in changes
    engine_accepts(new)


def test_a_bucket_left_at_the_engine_default_size_is_rounded_like_a_written_one():
    config = {"bucket": {"frames": 49}, "extra_buckets": [{"width": 448, "height": 768, "frames": 49}], "data": {}}
    new, changes = translate_config(config, LTX23, other_base(spatial=128))
    assert new["bucket"] == {"frames": 49, "height": 512}  # 768 wide, the engine's default, is 6 blocks already
    assert new["extra_buckets"] == [{"width": 512, "height": 768, "frames": 49}]
    assert changes[0].startswith("Clips change from 768×448 and 448×768, 49 frames to 768×512 and 512×768, 49 frames")


def test_settings_left_at_the_old_base_defaults_move_to_the_new_ones_and_chosen_ones_stay():
    target = other_base(rank=16, learning_rate=1e-4, steps=3000, first_frame_conditioning_p=0.2, audio="silence")
    config = wizard_config(lora={"rank": 64})
    new, changes = translate_config(config, LTX23, target)
    assert new["lora"] == {"rank": 64}
    assert new["optim"] == {"steps": 3000, "learning_rate": 1e-4}
    assert new["diffusion"] == {"first_frame_conditioning_p": 0.2, "audio": "silence"}
    assert changes[1:6] == [
        "Adapter capacity (rank) stays 64, as you chose it (LTX-2.5's default would be 16).",
        "Learning rate goes from 0.0002 to 0.0001, LTX-2.5's default: you had left it at LTX-2.3's.",
        "Training steps go from 2,000 to 3,000, LTX-2.5's default: you had left them at LTX-2.3's.",
        "First-frame practice goes from 0.1 to 0.2, LTX-2.5's default: you had left it at LTX-2.3's.",
        "Audio goes from video only to video with silent audio alongside, LTX-2.5's default: you had left it at "
        "LTX-2.3's.",
    ]
    engine_accepts(new)


def test_a_setting_a_config_leaves_out_counts_as_the_engine_default_it_trained_with():
    config = {"bucket": {"width": 128, "height": 96, "frames": 9, "fps": 24}, "lora": {"rank": 4},
              "optim": {"steps": 12}, "data": {"max_sequence_length": 32}}
    new, changes = translate_config(config, LTX23, other_base(learning_rate=1e-4))
    assert new["optim"] == {"steps": 12, "learning_rate": 1e-4}
    assert "diffusion" not in new and "extra_buckets" not in new
    assert changes[1] == ("Adapter capacity (rank), training steps, first-frame practice and audio stay as they were: "
                          "LTX-2.5's defaults for these are the same.")


def test_fewer_default_steps_bring_checkpoints_and_samples_within_the_run():
    new, changes = translate_config(wizard_config(optim={"steps": 2000}), LTX23, other_base(steps=200))
    assert (new["optim"]["steps"], new["checkpoint"]["every"], new["validation"]["every"]) == (200, 200, 200)
    assert "A checkpoint is saved at step 200, the end, instead of every 250 steps." in changes
    assert "Samples are made at step 200, the end, instead of every 250 steps." in changes


def test_a_continued_run_trained_again_starts_from_the_start():
    config = wizard_config(checkpoint={"every": 250, "extend": True})
    new, _ = translate_config(config, LTX23, LTX25)
    assert new["checkpoint"] == {"every": 250}
    assert config["checkpoint"]["extend"] is True


@pytest.mark.parametrize(("pixels", "block", "rounded"), [(288, 32, 288), (288, 64, 320), (280, 64, 256),
                                                          (20, 64, 64), (96, 64, 128)])
def test_a_side_goes_to_the_nearest_whole_block(pixels: int, block: int, rounded: int):
    assert round_side(pixels, block) == rounded


@pytest.mark.parametrize(("frames", "step", "rounded"), [(49, 8, 49), (57, 16, 49), (9, 16, 17), (1, 16, 1),
                                                         (121, 16, 113)])
def test_frames_go_to_the_most_that_fit_the_rule(frames: int, step: int, rounded: int):
    assert round_frames(frames, step) == rounded
