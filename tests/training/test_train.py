"""The loop: it learns to use the reference, resumes exactly, obeys the worker hooks, trains on int8 weights."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from pydantic import ValidationError
from safetensors import safe_open
from safetensors.torch import load_file

from engine.checkpoint import ResumeMismatch
from engine.config import TrainConfig, load_config
from engine.dataset import Bucket, CachedPair, Pair, load_cache, read_manifest, write_manifest
from engine.media import probe
from engine.train import (
    Progress,
    TrainingHooks,
    audio_token_shape,
    draw_step,
    evaluate,
    setup_model,
    swap_partner,
    train,
)
from tests.training.conftest import TINY_BASES, tiny_config

HELD_OUT = [28, 29]


# ~45 s on an idle 2-core machine; several times that when other suites share the cores, hence the headroom.
@pytest.mark.timeout(900)
def test_after_training_the_held_out_loss_is_lower_with_the_true_reference_than_with_a_swapped_one(
    make_config: Any, learning_pairs: Path, load_tiny: Any
) -> None:
    cfg = make_config(
        learning_pairs,
        data={"validation_indices": HELD_OUT},
        lora={"rank": 32},
        optim={"steps": 400, "learning_rate": 6e-3},
    )
    result = train(cfg)
    assert result.status == "finished" and result.adapter_path is not None
    held_out = load_cache(cfg.cache_dir, HELD_OUT)

    untrained = evaluate(load_tiny(), held_out, 1)
    pipe = load_tiny()
    pipe.load_lora_weights(str(result.adapter_path))  # the exported bf16 file, as a user would load it
    true_ref = evaluate(pipe, held_out, 1)
    swapped_ref = evaluate(pipe, held_out, 1, swap_references=True)

    # Measured on this recipe: untrained ~2.6, true reference ~1.65, swapped ~1.95.
    assert true_ref < 0.9 * swapped_ref, (true_ref, swapped_ref)
    assert true_ref < 0.8 * untrained, (true_ref, untrained)
    assert result.eval_loss == pytest.approx(true_ref, rel=0.02)  # in-training eval agrees with the file
    assert len(result.samples) == 2 and all(p.stat().st_size > 0 for p in result.samples)


def _losses(cfg: TrainConfig, stop_at: int | None = None) -> dict[int, float]:
    seen: dict[int, float] = {}

    def progress(p: Progress) -> None:
        seen[p.step] = p.loss

    hooks = TrainingHooks(on_progress=progress, should_cancel=lambda: stop_at is not None and max(seen) == stop_at)
    train(cfg, hooks)
    return seen


@pytest.mark.parametrize("base", TINY_BASES)
def test_n_steps_then_resume_then_n_steps_equals_2n_steps_straight(
    base: str, tiny_model_dirs: Callable[[str], Path], three_pairs: Path, tmp_path: Path
) -> None:
    def make_config(name: str) -> TrainConfig:
        raw = tiny_config(tmp_path, three_pairs, tiny_model_dirs(base), output_dir=str(tmp_path / name),
                          optim={"steps": 8})
        return TrainConfig.model_validate(raw)

    straight_cfg, split_cfg = make_config("straight"), make_config("split")

    straight = _losses(straight_cfg)
    first_half = _losses(split_cfg, stop_at=4)
    assert sorted(first_half) == [1, 2, 3, 4]
    second_half = _losses(split_cfg)  # resumes from the checkpoint the cancel wrote
    assert sorted(second_half) == [5, 6, 7, 8]

    for step in range(1, 9):
        resumed = first_half.get(step, second_half.get(step))
        assert resumed == pytest.approx(straight[step], rel=1e-6, abs=1e-7), step
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "step_000008" / "adapter.safetensors"))
    b = load_file(str(tmp_path / "split" / "checkpoints" / "step_000008" / "adapter.safetensors"))
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6
    assert any(v.abs().sum() > 0 for k, v in a.items() if "lora_B" in k)  # it did train
    with safe_open(str(tmp_path / "straight" / "adapter.safetensors"), "pt") as f:
        assert f.metadata()["base"] == base


def test_with_two_buckets_a_run_finishes_checkpoints_and_resumes_exactly(
    make_config: Any, mixed_pairs: Path, tmp_path: Path
) -> None:
    """Landscape 128x96 and portrait 96x128 clips, each in its own bucket, batches of 2 from one bucket at a time."""
    manifest = [json.loads(line) for line in mixed_pairs.read_text().splitlines()]

    def config(name: str) -> TrainConfig:
        return make_config(
            mixed_pairs, output_dir=str(tmp_path / name), bucket={"width": 128, "height": 96},
            extra_buckets=[{"width": 96, "height": 128, "frames": 17, "fps": 24}],
            data={"cache_dir": str(tmp_path / "cache")},  # one cache for both runs: encoded once
            optim={"steps": 8, "batch_size": 2},
            validation={"prompts": ["wide", "tall"], "num_inference_steps": 2,
                        "reference_videos": [manifest[0]["reference_video"], manifest[3]["reference_video"]]},
        )

    log: list[str] = []
    straight_cfg = config("straight")
    seen: dict[int, float] = {}
    result = train(straight_cfg, TrainingHooks(on_log=log.append,
                                               on_progress=lambda p: seen.update({p.step: p.loss})))
    assert result.status == "finished" and result.adapter_path is not None
    assert "buckets: 128x96x17@24 2 pairs, 96x128x17@24 2 pairs" in log
    assert any(line.startswith("pair 3: bucket 96x128x17@24 (closest aspect ratio") for line in log)
    assert "sample 01: bucket 96x128x17@24 (closest aspect ratio to 96x128 (0.75 vs 0.75))" in log
    assert [(probe(s).width, probe(s).height) for s in result.samples] == [(128, 96), (96, 128)]
    with safe_open(str(result.adapter_path), "pt") as f:
        assert (f.metadata() or {})["bucket"] == "128x96x17@24,96x128x17@24"

    split_cfg = config("split")
    first_half = _losses(split_cfg, stop_at=4)
    second_half = _losses(split_cfg)
    assert sorted(first_half) == [1, 2, 3, 4] and sorted(second_half) == [5, 6, 7, 8]
    for step in range(1, 9):
        resumed = first_half.get(step, second_half.get(step))
        assert resumed == pytest.approx(seen[step], rel=1e-6, abs=1e-7), step
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "step_000008" / "adapter.safetensors"))
    b = load_file(str(tmp_path / "split" / "checkpoints" / "step_000008" / "adapter.safetensors"))
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6


def test_with_whole_clips_a_run_trains_on_every_window_and_holds_out_all_of_a_held_out_pair(
    make_config: Any, tmp_path: Path
) -> None:
    from engine.synthetic import make_pairs

    manifest = make_pairs(tmp_path / "long", 3, seconds=2.0)  # 48 frames each: two windows of 17
    cfg = make_config(manifest, data={"whole_clips": True, "validation_indices": [2]}, optim={"steps": 4})
    log: list[str] = []

    result = train(cfg, TrainingHooks(on_log=log.append))

    assert result.status == "finished"
    assert "whole clips: 3 pairs give 6 training clips" in log
    assert [line for line in log if line.startswith("pair 1:")] == [
        "pair 1: resize and centre-crop target 160x128 -> 128x128, resize and centre-crop reference 160x128 -> "
        "128x128, cut 48 frames into 2 clips of 17"]
    assert len(load_cache(cfg.cache_dir, [0, 1])) == 4 and len(load_cache(cfg.cache_dir, [2])) == 2
    assert [line for line in log if "eval loss" in line][-1].endswith("on 2 held-out pairs (isolated audio regime)")
    assert {p.row for p in load_cache(cfg.cache_dir)} == {0, 1, 2}  # each window knows its clip


def test_a_batch_never_mixes_buckets_and_every_bucket_gets_trained() -> None:
    from engine.train import draw_batch

    def pair(bucket: Bucket) -> CachedPair:
        empty = torch.zeros(1)
        return CachedPair(empty, empty, empty, empty, empty, "", bucket)

    wide, tall = Bucket(128, 96, 17, 24.0), Bucket(96, 128, 17, 24.0)
    pairs = [pair(wide) for _ in range(3)] + [pair(tall) for _ in range(2)]
    gen = torch.Generator().manual_seed(0)
    batches = [draw_batch(pairs, 3, gen) for _ in range(40)]
    assert all(len({p.bucket for p in batch}) == 1 for batch in batches)
    assert {batch[0].bucket for batch in batches} == {wide, tall}
    gen.manual_seed(0)
    assert [[pairs.index(p) for p in draw_batch(pairs, 3, gen)] for _ in range(40)] == [
        [pairs.index(p) for p in batch] for batch in batches
    ]  # the generator alone decides: a resumed run draws the same batches


def test_the_swapped_reference_evaluation_borrows_from_another_clip_not_another_window_of_the_same_one() -> None:
    wide = Bucket(128, 96, 17, 24.0)

    def window(row: int) -> CachedPair:
        empty = torch.zeros(1)
        return CachedPair(empty, empty, empty, empty, empty, "", wide, row)

    first, second, other_clip = window(0), window(0), window(1)  # two windows of one long clip, then another clip
    pairs = [first, second, other_clip]
    assert swap_partner(first, pairs) is other_clip and swap_partner(second, pairs) is other_clip
    assert swap_partner(other_clip, pairs) is first
    with pytest.raises(ValueError, match="at least two clips in the bucket 128x96x17"):
        swap_partner(first, [first, second])


def test_hooks_report_progress_and_obey_save_sample_and_cancel(
    make_config: Any, three_pairs: Path, tmp_path: Path
) -> None:
    cfg = make_config(three_pairs, optim={"steps": 10}, checkpoint={"every": 1000, "keep": 5})
    progress: list[Progress] = []
    saved: list[int] = []
    sampled: list[tuple[int, list[Path]]] = []
    hooks = TrainingHooks(
        on_progress=progress.append,
        should_save=lambda: progress[-1].step == 2,
        should_sample=lambda: progress[-1].step == 3,
        should_cancel=lambda: progress[-1].step == 5,
        on_checkpoint=lambda step, path: saved.append(step),
        on_sample=lambda step, files: sampled.append((step, files)),
    )
    result = train(cfg, hooks)

    assert result.status == "cancelled" and result.adapter_path is None and result.steps == 5
    assert [p.step for p in progress] == [1, 2, 3, 4, 5]
    assert saved == [2, 5]  # save-now at 2, and cancelling saves where it stopped
    assert [s for s, _ in sampled] == [3] and sampled[0][1][0].name == "step_000003_00.mp4"
    last = progress[-1]
    assert last.total == 10 and last.loss > 0 and last.peak_memory_mb > 0 and last.steps_per_s > 0
    assert last.eta_s == pytest.approx(5 / last.steps_per_s)
    assert last.lr == pytest.approx(1e-3 * (1 - 0.9 * 5 / 10))  # linear decay to 0.1x


def test_hooks_say_each_stage_clip_by_clip_and_sample_by_sample_around_the_steps(
    make_config: Any, three_pairs: Path
) -> None:
    """What the run page shows between the steps: preparing clip i of n, getting the model ready, making samples."""
    from engine.train import LOADING, PREPARING, SAMPLING

    cfg = make_config(three_pairs, optim={"steps": 4}, validation={"every": 2})
    said: list[tuple[str, int, int]] = []
    train(cfg, TrainingHooks(on_stage=lambda stage, done, total: said.append((stage, done, total)),
                             on_progress=lambda p: said.append(("step", p.step, p.total))))
    samples = [(SAMPLING, 0, 1), (SAMPLING, 1, 1)]  # the eval loss first (none held out here), then each sample
    assert said == [(PREPARING, 1, 3), (PREPARING, 2, 3), (PREPARING, 3, 3), (LOADING, 0, 0),
                    ("step", 1, 4), ("step", 2, 4), *samples, ("step", 3, 4), ("step", 4, 4), *samples]


def test_validation_samples_are_made_from_a_still_image_reference(
    make_config: Any, three_pairs: Path, clip_factory: Any, load_tiny: Any, tmp_path: Path
) -> None:
    """Identity adapters: the sample's reference is one photo, used as one frame (not cut to the bucket's)."""
    import subprocess

    from engine.sample import ValidationSet

    still = tmp_path / "subject.png"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_factory("reference", 2)), "-frames:v", "1",
                    str(still)], check=True)
    cfg = make_config(three_pairs, validation={"prompts": ["the subject waves"], "reference_videos": [str(still)],
                                               "num_inference_steps": 2})
    pipe = load_tiny()
    validation = ValidationSet.build(pipe, cfg, [])
    assert validation.items[0].reference.shape == (1, 128, 128, 3)
    [sample] = validation.render(pipe, 4, tmp_path / "samples")
    assert sample.name == "step_000004_00.mp4" and probe(sample).frames == cfg.bucket.frames


def test_a_resumed_run_with_every_caption_cached_never_loads_the_text_encoder(
    three_pairs: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    cfg = TrainConfig.model_validate(
        tiny_config(tmp_path, three_pairs, model, optim={"steps": 4}, checkpoint={"every": 2})
    )
    first: list[str] = []
    steps: list[int] = []
    stopped = train(cfg, TrainingHooks(on_log=first.append, on_progress=lambda p: steps.append(p.step),
                                       should_cancel=lambda: bool(steps) and steps[-1] == 2))
    assert stopped.status == "cancelled" and stopped.steps == 2  # a worker that stopped half-way
    assert "captions and sample prompts encoded and cached; text encoder unloaded to free memory for training" in first

    shutil.rmtree(model / "text_encoder")  # a resumed run that reached for Gemma would fail now
    second: list[str] = []
    result = train(cfg, TrainingHooks(on_log=second.append))
    assert result.status == "finished" and result.steps == 4
    assert "captions and sample prompts were already encoded (cache): the text encoder was not needed" in second
    assert any(line.startswith("resumed from step_000002") for line in second)


def test_it_trains_on_int8_quantized_weights_on_cpu_and_encodes_captions_with_an_int8_text_encoder(
    make_config: Any, three_pairs: Path
) -> None:
    from optimum.quanto import QLinear

    cfg = make_config(three_pairs, quantize="int8", gradient_checkpointing=True, optim={"steps": 3})
    result = train(cfg)
    assert result.status == "finished" and torch.isfinite(torch.tensor(result.last_loss))
    weights = load_file(str(result.adapter_path))
    assert any(v.float().abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)

    from engine.loader import encoding_name, ensure_text_encoder
    from engine.train import setup_model

    pipe, _ = setup_model(cfg)
    assert isinstance(pipe.transformer.transformer_blocks[0].attn1.to_q.base_layer, QLinear)
    # Gemma is quantized too while it encodes, and its embeddings are cached apart from full-precision ones.
    assert any(isinstance(m, QLinear) for m in ensure_text_encoder(pipe).modules())
    assert encoding_name(pipe).endswith("+int8-text-encoder")


def test_unknown_config_keys_are_rejected_with_their_name(tmp_path: Path, three_pairs: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"output_dir": "run", "data": {"manifest": str(three_pairs)}, "lora": {"rnak": 8}}))
    with pytest.raises(ValidationError, match=r"lora\.rnak\s+Extra inputs are not permitted"):
        load_config(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bucket": {"width": 100}}, "must be a multiple of 32"),
        ({"bucket": {"frames": 20}}, "must be 8n\\+1"),
        ({"bucket": {"width": 96, "height": 96}, "data": {"reference_downscale_factor": 2}}, "multiple of 64"),
        ({"optim": {"learning_rate": -1}}, "greater than 0"),
        ({"device": "tpu"}, "device must be auto, cpu, cuda"),
        ({"extra_buckets": [{"width": 96, "height": 100}]}, "must be a multiple of 32"),
        ({"extra_buckets": [{"width": 96, "height": 160}], "data": {"reference_downscale_factor": 2}},
         "bucket 96x160 must be a multiple of 64"),
        ({"extra_buckets": [{"frames": 20}]}, "must be 8n\\+1"),
        ({"extra_buckets": [{}]}, "list the same bucket twice"),
        ({"bucket": {"frames": 25}, "data": {"reference_temporal_scale_factor": 2}},
         "must be 16n\\+1 \\(e.g. 17, 33\\) with reference temporal scale factor 2: the reference keeps every 2nd"),
        ({"data": {"reference_temporal_scale_factor": 9}}, "less than or equal to 8"),
    ],
)
def test_impossible_settings_are_clear_errors(change: dict[str, Any], message: str, three_pairs: Path) -> None:
    raw: dict[str, Any] = {"output_dir": "/tmp/x", "data": {"manifest": str(three_pairs)}}
    for key, value in change.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    with pytest.raises(ValidationError, match=message):
        TrainConfig.model_validate(raw)


def test_config_defaults_follow_the_design_note(three_pairs: Path) -> None:
    cfg = TrainConfig.model_validate({"output_dir": "/tmp/x", "data": {"manifest": str(three_pairs)}})
    assert (cfg.lora.rank, cfg.lora.effective_alpha, cfg.optim.learning_rate) == (32, 32.0, 2e-4)
    assert (cfg.optim.final_lr_fraction, cfg.optim.grad_clip, cfg.optim.batch_size) == (0.1, 1.0, 1)
    assert cfg.gradient_checkpointing == "auto" and (cfg.checkpoint.every, cfg.checkpoint.keep) == (250, 3)
    for name, field in TrainConfig.model_fields.items():
        assert field.description, name


@pytest.mark.parametrize(("setting", "expected"), [("auto", False), (True, True), (False, False)])
def test_gradient_checkpointing_is_off_on_the_cpu_unless_asked_for(
    make_config: Any, three_pairs: Path, setting: Any, expected: bool
) -> None:
    from engine.train import setup_model

    pipe, _ = setup_model(make_config(three_pairs, gradient_checkpointing=setting))
    assert pipe.transformer.is_gradient_checkpointing is expected


def test_auto_gradient_checkpointing_keeps_the_config_hash_of_runs_saved_before_it(three_pairs: Path) -> None:
    raw = {"output_dir": "/tmp/x", "data": {"manifest": str(three_pairs)}}
    auto = TrainConfig.model_validate(raw)
    assert auto.config_hash() == TrainConfig.model_validate({**raw, "gradient_checkpointing": True}).config_hash()
    assert auto.config_hash() != TrainConfig.model_validate({**raw, "gradient_checkpointing": False}).config_hash()


def test_a_single_bucket_config_keeps_its_form_and_hash_and_extra_buckets_add_to_it() -> None:
    raw: dict[str, Any] = {"output_dir": "/tmp/x", "data": {"manifest": "/tmp/m.jsonl"},
                           "bucket": {"width": 128, "height": 96, "frames": 17, "fps": 24}}
    single = TrainConfig.model_validate(raw)
    assert [b.label() for b in single.buckets] == ["128x96x17@24"]
    # The hash these settings had before extra_buckets existed (adapters store it): an empty list changes nothing.
    assert single.config_hash() == "7cfe839a824f"
    both = TrainConfig.model_validate({**raw, "extra_buckets": [{"width": 96, "height": 128, "frames": 17}]})
    assert [b.label() for b in both.buckets] == ["128x96x17@24", "96x128x17@24"]
    assert both.config_hash() != single.config_hash()
    whole = TrainConfig.model_validate({**raw, "data": {**raw["data"], "whole_clips": True}})
    assert whole.config_hash() != single.config_hash()


def test_relative_paths_in_a_yaml_config_are_relative_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "train.yaml"
    path.write_text("output_dir: out\ndata:\n  manifest: pairs/manifest.jsonl\n")
    cfg = load_config(path)
    assert cfg.output_dir == tmp_path / "cfg" / "out"
    assert cfg.data.manifest == tmp_path / "cfg" / "pairs" / "manifest.jsonl"


def test_the_silence_audio_regime_trains_with_the_audio_stream_joined_as_the_pipeline_generates(
    make_config: Any, three_pairs: Path
) -> None:
    isolated = make_config(three_pairs)
    silence = make_config(three_pairs, diffusion={"audio": "silence"}, optim={"steps": 2})
    assert silence.config_hash() != isolated.config_hash()
    result = train(silence)
    assert result.status == "finished" and torch.isfinite(torch.tensor(result.last_loss))
    pipe, _ = setup_model(silence)
    pairs = load_cache(silence.cache_dir)
    inputs = draw_step(pipe, pairs, silence, torch.Generator().manual_seed(0))
    assert inputs.model_kwargs["isolate_modalities"] is False
    tokens, _ = audio_token_shape(pipe, silence.bucket.to_bucket())
    assert inputs.model_kwargs["audio_num_frames"] == tokens > 1  # the clip's whole soundtrack, as the pipeline
    assert draw_step(pipe, pairs, isolated, torch.Generator().manual_seed(0)).model_kwargs["isolate_modalities"]


def test_a_checkpoint_is_resumed_only_with_the_settings_and_data_it_was_made_with(
    make_config: Any, three_pairs: Path, tmp_path: Path
) -> None:
    out = str(tmp_path / "run")
    first = _losses(make_config(three_pairs, output_dir=out, optim={"steps": 4}), stop_at=2)
    assert sorted(first) == [1, 2]  # the cancel saved step 2

    with pytest.raises(ResumeMismatch, match=r"optim\.learning_rate: 0\.001 → 0\.002.*new output folder"):
        train(make_config(three_pairs, output_dir=out, optim={"steps": 4, "learning_rate": 2e-3}))
    with pytest.raises(ResumeMismatch, match=r"optim\.steps: 4 → 8.*learning-rate schedule"):
        train(make_config(three_pairs, output_dir=out, optim={"steps": 8}))
    # A run that extends this one on purpose may train to a larger total, but nothing else may change.
    with pytest.raises(ResumeMismatch, match=r"optim\.learning_rate: 0\.001 → 0\.002\)"):
        train(make_config(three_pairs, output_dir=out, optim={"steps": 8, "learning_rate": 2e-3},
                          checkpoint={"every": 1000, "extend": True}))
    rows = read_manifest(three_pairs)
    recaptioned = write_manifest([Pair(p.index, f"{p.caption}, slowly" if p.index == 0 else p.caption, p.video,
                                       p.reference) for p in rows], tmp_path / "recaptioned.jsonl")
    with pytest.raises(ResumeMismatch, match=r"data\.pairs"):
        train(make_config(recaptioned, output_dir=out, optim={"steps": 4}))

    # The same files fetched elsewhere (another worker: other paths, same names and sizes) resume.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    moved = []
    for p in rows:
        video, reference = elsewhere / Path(p.video).name, elsewhere / Path(p.reference).name
        shutil.copyfile(p.video, video)
        shutil.copyfile(p.reference, reference)
        moved.append(Pair(p.index, p.caption, video, reference))
    rest = _losses(make_config(write_manifest(moved, elsewhere / "manifest.jsonl"), output_dir=out,
                               optim={"steps": 4}))
    assert sorted(rest) == [3, 4]
    extended = _losses(make_config(three_pairs, output_dir=out, optim={"steps": 6},
                                   checkpoint={"every": 1000, "extend": True}))
    assert sorted(extended) == [5, 6]


def test_a_checkpoint_from_before_settings_were_recorded_still_resumes(
    make_config: Any, three_pairs: Path, tmp_path: Path
) -> None:
    cfg = make_config(three_pairs, output_dir=str(tmp_path / "run"), optim={"steps": 4})
    _losses(cfg, stop_at=2)
    state_path = tmp_path / "run" / "checkpoints" / "step_000002" / "state.pt"
    state = torch.load(state_path, weights_only=True)
    del state["settings"]  # as written by the versions before this check
    torch.save(state, state_path)
    assert sorted(_losses(make_config(three_pairs, output_dir=str(tmp_path / "run"),
                                      optim={"steps": 4, "learning_rate": 2e-3}))) == [3, 4]
