"""Presets, the model's shape rules, the estimate, and the config the engine will accept."""

from __future__ import annotations

import pytest

from datasets.recipes import RECIPES
from wizard import estimate as estimates
from wizard.estimate import estimate
from wizard.forms import estimate_for
from wizard.plan import (
    ClipFacts,
    TrainingSettings,
    cropped_notes,
    model_preset,
    preset_settings,
    sample_count,
    shape_problems,
    shape_uses,
    to_train_config,
    training_clips,
)


def facts(*metas: dict) -> ClipFacts:
    return ClipFacts.from_metas(list(metas))


LANDSCAPE_5S = {"width": 1920, "height": 1080, "fps": 24.0, "frames": 130, "duration": 5.4}
PORTRAIT_5S = {**LANDSCAPE_5S, "width": 1080, "height": 1920}
SQUARE_5S = {**LANDSCAPE_5S, "width": 1080, "height": 1080}


def test_presets_grow_from_quick_to_high_quality():
    quick, balanced, high = (preset_settings(p, RECIPES["depth"], facts(LANDSCAPE_5S), "ltx-2.3")
                             for p in ("quick", "balanced", "high"))
    assert (balanced.width, balanced.height, balanced.frames) == (768, 448, 81)
    assert quick.steps < balanced.steps < high.steps
    assert quick.width * quick.height * quick.frames < high.width * high.height * high.frames
    assert (balanced.rank, balanced.learning_rate) == (32, 2e-4)


def test_the_recipe_sets_the_defaults_of_the_settings_step():
    identity = preset_settings("balanced", RECIPES["identity"], facts(), "ltx-2.3")
    colorize = preset_settings("balanced", RECIPES["colorize"], facts(), "ltx-2.3")
    assert (identity.rank, identity.learning_rate, identity.steps) == (128, 1e-4, 5000)
    assert colorize.trigger_phrase == "COLORIZE"


def test_presets_fit_the_frame_count_to_the_shortest_clip_and_follow_portrait_clips():
    short_portrait = {"width": 1080, "height": 1920, "fps": 30.0, "frames": 60, "duration": 2.0}
    values = preset_settings("high", RECIPES["pose"], facts(short_portrait, short_portrait), "ltx-2.3")
    assert values.fps == 30.0
    assert values.frames == 57  # 60 frames hold 57 = 8·7+1
    assert values.height > values.width


def test_mixed_clips_get_one_shape_per_orientation_with_the_same_pixels_frames_and_fps():
    values = preset_settings("balanced", RECIPES["depth"], facts(LANDSCAPE_5S, LANDSCAPE_5S, PORTRAIT_5S), "ltx-2.3")
    assert [(s.width, s.height, s.frames, s.fps) for s in values.shapes] == [(768, 448, 81, 24.0), (448, 768, 81, 24.0)]
    every = preset_settings("balanced", RECIPES["depth"], facts(PORTRAIT_5S, SQUARE_5S, LANDSCAPE_5S, PORTRAIT_5S),
                            "ltx-2.3")
    # The most common orientation first (it is the engine's `bucket`); square: √(768·448) ≈ 587, in blocks of 32.
    assert [(s.width, s.height) for s in every.shapes] == [(448, 768), (768, 448), (576, 576)]


def test_clips_of_one_orientation_keep_a_single_shape():
    for clip in (LANDSCAPE_5S, PORTRAIT_5S):
        values = preset_settings("balanced", RECIPES["depth"], facts(clip, clip), "ltx-2.3")
        assert values.extra_sizes == [] and len(values.shapes) == 1
    assert preset_settings("balanced", RECIPES["depth"], facts(), "ltx-2.3").shapes[0].width == 768  # no clips yet


def test_clips_go_to_the_shape_closest_to_theirs_and_a_removed_shape_is_explained():
    values = preset_settings("balanced", RECIPES["depth"], facts(LANDSCAPE_5S, PORTRAIT_5S, PORTRAIT_5S), "ltx-2.3")
    metas = [LANDSCAPE_5S, PORTRAIT_5S, PORTRAIT_5S]
    assert [(u.kind, u.pairs) for u in shape_uses(metas, values.shapes)] == [("portrait", 2), ("landscape", 1)]
    assert cropped_notes(metas, values.shapes) == []
    only_landscape = [s for s in values.shapes if s.width > s.height]
    assert cropped_notes(metas, only_landscape) == [
        "No portrait shape: your 2 portrait clips are cropped into 768×448, which cuts off up to 67% of the "
        "picture. Pick the preset again to give them their own shape."]


def test_the_launch_config_carries_every_shape_as_engine_buckets(tmp_path):
    from engine.config import TrainConfig

    values = preset_settings("balanced", RECIPES["restoration"], facts(LANDSCAPE_5S, PORTRAIT_5S), "ltx-2.3")
    config = to_train_config(values, RECIPES["restoration"], [], "run-1")
    assert config["extra_buckets"] == [{"width": 448, "height": 768, "frames": 81, "fps": 24.0}]
    config.pop("held_out_pairs")  # the runner's
    config["output_dir"], config["data"]["manifest"] = str(tmp_path), str(tmp_path / "manifest.csv")
    parsed = TrainConfig.model_validate(config)
    assert [b.label() for b in parsed.buckets] == ["768x448x81@24", "448x768x81@24"]


@pytest.mark.django_db  # the estimate reads this server's measured speeds
def test_the_estimate_is_for_the_largest_shape():
    values = preset_settings("balanced", RECIPES["depth"], facts(LANDSCAPE_5S, SQUARE_5S), "ltx-2.3")
    values.extra_sizes = [[640, 640]]  # 409,600 pixels: more than 768×448's 344,064
    samples = sample_count(values.steps, values.validation_every, 0)
    assert estimate_for(values, [LANDSCAPE_5S] * 10) == estimate(model_preset(), 640, 640, 81, 1, 32, values.steps, 10,
                                                                 samples=samples)


@pytest.mark.parametrize(
    ("width", "height", "frames", "downscale", "says"),
    [
        (770, 448, 81, 1, "Width 770 is not a multiple of 32"),
        (768, 450, 81, 1, "Height 450 is not a multiple of 32"),
        (768, 448, 80, 1, "80 frames does not work"),
        (736, 448, 81, 2, "Width 736 is not a multiple of 64"),
    ],
)
def test_the_shape_rules_are_enforced_and_explained(width, height, frames, downscale, says):
    problems = shape_problems(width, height, frames, downscale)
    assert len(problems) == 1 and problems[0].startswith(says)
    assert "Try" in problems[0]


def test_a_valid_shape_has_no_problems():
    assert shape_problems(768, 448, 121, 2) == []


def test_the_stored_config_is_accepted_by_the_engine_once_paths_are_added(tmp_path):
    from engine.config import TrainConfig

    values = preset_settings("balanced", RECIPES["restoration"], facts(LANDSCAPE_5S), "ltx-2.3")
    values.validation_prompts = ["a clean street"]
    config = to_train_config(values, RECIPES["restoration"], ["users/1/datasets/1/files/x_ref.mp4"], "run-1")
    assert config.pop("held_out_pairs") == []  # the runner's, turned into manifest rows before the engine sees it
    config["output_dir"] = str(tmp_path)
    config["data"]["manifest"] = str(tmp_path / "manifest.csv")
    parsed = TrainConfig.model_validate(config)
    assert (parsed.bucket.width, parsed.bucket.frames, parsed.lora.rank) == (768, 81, 32)
    assert parsed.data.trigger == "ENHANCE QUALITY"
    assert parsed.validation.prompts == ["a clean street"]
    assert parsed.export.recipe == "restoration"


def test_the_estimate_grows_with_size_steps_and_rank():
    base = estimate("ltx-2.3", 768, 448, 81, 1, 32, 2000, 20)
    assert estimate("ltx-2.3", 768, 448, 121, 1, 32, 2000, 20).seconds > base.seconds
    assert estimate("ltx-2.3", 768, 448, 81, 1, 32, 3000, 20).seconds > base.seconds
    assert estimate("ltx-2.3", 768, 448, 81, 1, 128, 2000, 20).memory_gib > base.memory_gib
    assert estimate("ltx-2.3", 768, 448, 81, 2, 32, 2000, 20).memory_gib < base.memory_gib
    assert base.fits


def test_the_balanced_default_takes_about_an_hour_or_two_on_the_real_model():
    default = estimate("ltx-2.3", 768, 448, 121, 1, 32, 2500, 0)
    assert 0.8 * 3600 < default.seconds < 2.5 * 3600
    assert 45 < default.memory_gib < 80


def test_int8_weights_save_half_the_transformer_and_the_workers_card_is_what_counts():
    bf16 = estimate("ltx-2.3", 768, 448, 121, 1, 32, 2500, 0, gpu_memory_gib=48)
    int8 = estimate("ltx-2.3", 768, 448, 121, 1, 32, 2500, 0, int8=True, gpu_memory_gib=48)
    assert bf16.memory_gib - int8.memory_gib == pytest.approx(estimates.LTX23_TRANSFORMER_GIB / 2)
    assert (bf16.fits, int8.fits) == (False, True) and int8.memory_text.endswith("of 48 GB")
    assert "int8" in int8.source


def test_the_estimates_weight_figures_are_counted_from_the_shipped_ltx23_configs():
    import torch

    from engine.config import LORA_TARGETS
    from engine.lora import add_lora
    from engine.single_file import LTX23_CONFIGS, empty_component

    def gib(component: str) -> float:
        return sum(p.numel() for p in empty_component(component, LTX23_CONFIGS).parameters()) * 2 / 1024**3

    transformer = empty_component("transformer", LTX23_CONFIGS)
    assert gib("transformer") == pytest.approx(estimates.LTX23_TRANSFORMER_GIB, abs=0.01)
    others = sum(gib(c) for c in ("connectors", "vae", "audio_vae", "vocoder"))
    assert others == pytest.approx(estimates.LTX23_OTHER_GIB, abs=0.01)
    with torch.device("meta"):
        lora = add_lora(transformer, 1, 1.0, list(LORA_TARGETS))
    assert sum(p.numel() for p in lora) == estimates.LTX23_LORA_PARAMS_PER_RANK


def test_a_shape_far_beyond_one_gpu_does_not_fit():
    assert not estimate("ltx-2.3", 1920, 1088, 257, 1, 128, 2000, 20).fits


TWENTY_SECONDS = {**LANDSCAPE_5S, "frames": 480, "duration": 20.0}


def test_whole_clips_cut_a_long_clip_into_as_many_training_clips_as_fit():
    assert training_clips([TWENTY_SECONDS, LANDSCAPE_5S], 81, 24.0, whole_clips=True) == 5 + 1
    assert training_clips([TWENTY_SECONDS, LANDSCAPE_5S], 81, 24.0, whole_clips=False) == 2
    assert training_clips([TWENTY_SECONDS], 81, 12.0, whole_clips=True) == 2  # 240 frames at 12 fps


def test_new_settings_use_whole_clips_and_drafts_saved_before_keep_using_the_start():
    values = preset_settings("balanced", RECIPES["restoration"], facts(LANDSCAPE_5S), "ltx-2.3")
    saved_before = {k: v for k, v in values.as_dict().items() if k != "whole_clips"}

    assert values.whole_clips is True
    assert to_train_config(values, RECIPES["restoration"], [], "run-1")["data"]["whole_clips"] is True
    assert TrainingSettings.from_dict(saved_before).whole_clips is False


@pytest.mark.django_db  # the estimate reads this server's measured speeds
def test_the_estimate_prepares_every_training_clip():
    values = preset_settings("balanced", RECIPES["restoration"], facts(TWENTY_SECONDS), "ltx-2.3")
    largest = values.largest
    assert estimate_for(values, [TWENTY_SECONDS]) == estimate(
        model_preset(), largest.width, largest.height, values.frames, values.reference_downscale_factor, values.rank,
        values.steps, 5, samples=sample_count(values.steps, values.validation_every, 0))


def test_the_small_models_train_at_their_own_learning_rates_and_shapes():
    demo = preset_settings("quick", RECIPES["restoration"], facts(LANDSCAPE_5S), "demo")
    tiny = preset_settings("quick", RECIPES["restoration"], facts(LANDSCAPE_5S), "tiny")
    real = preset_settings("quick", RECIPES["restoration"], facts(LANDSCAPE_5S), "ltx-2.3")
    assert (demo.width, demo.height, demo.frames) == (256, 160, 17)  # the demo model's own latent grid
    assert demo.learning_rate == pytest.approx(20 * real.learning_rate)
    assert tiny.learning_rate == pytest.approx(30 * real.learning_rate)


def test_demo_model_runs_train_with_the_audio_stream_joined_and_ltx_runs_video_only(settings):
    from wizard.plan import to_train_config

    values = preset_settings("quick", RECIPES["restoration"], facts(LANDSCAPE_5S), "demo")
    settings.MODEL_PRESET = "demo"
    assert to_train_config(values, RECIPES["restoration"], [], "a")["diffusion"]["audio"] == "silence"
    settings.MODEL_PRESET = "ltx-2.3"
    assert to_train_config(values, RECIPES["restoration"], [], "a")["diffusion"]["audio"] == "isolated"


def test_the_demo_model_is_estimated_from_its_own_cpu_figures_not_ltx_2_3s():
    from wizard.estimate import estimate

    demo = estimate("demo", 256, 160, 17, 1, 32, 400, 24)
    real = estimate("ltx-2.3", 256, 160, 17, 1, 32, 400, 24)
    assert 90 < demo.seconds < 180  # measured: 128 s for 24 pairs and 400 steps
    assert "demo model" in demo.source and demo.seconds != real.seconds
