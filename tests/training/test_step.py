"""The training step feeds the transformer exactly what LTX2InContextPipeline feeds it at inference, on the tiny
model of every base (LTX-2.3 and LTX-2.5: the same step, no base-specific branch, for both)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition

from engine.dataset import Bucket, Pair, conform_pair, load_cache, prepare
from engine.loader import load_pipeline
from engine.train import audio_token_shape, build_step_inputs, masked_mse, sample_sigmas, sigma_shift
from tests.training.conftest import TINY_BASES

BUCKET = Bucket(width=128, height=128, frames=17, fps=24.0)
SIGMA = 0.625  # exactly representable: the pipeline and the trainer compute sigma*1000 in float32 alike
SEED = 7
# The pipeline's guidance off, the audio twins too (else each step costs extra transformer calls): one call per step,
# the training step's.
NO_GUIDANCE = {"guidance_scale": 1.0, "audio_guidance_scale": 1.0, "stg_scale": 0.0, "audio_stg_scale": 0.0,
               "modality_scale": 1.0, "audio_modality_scale": 1.0}
VIDEO_KEYS = (
    "hidden_states",
    "encoder_hidden_states",
    "encoder_attention_mask",
    "timestep",
    "sigma",
    "video_coords",
    "num_frames",
    "height",
    "width",
    "fps",
    "use_cross_timestep",
    "video_self_attention_mask",
)


AUDIO_KEYS = (
    "audio_hidden_states",
    "audio_encoder_hidden_states",
    "audio_encoder_attention_mask",
    "audio_timestep",
    "audio_sigma",
    "audio_coords",
    "audio_num_frames",
    "isolate_modalities",
)


@pytest.fixture(params=TINY_BASES)
def load_tiny(request: pytest.FixtureRequest, tiny_model_dirs: Callable[[str], Path]) -> Callable[[], Any]:
    """conftest's `load_tiny`, once per base: a fresh CPU fp32 pipeline of that base's tiny model per call."""
    directory = tiny_model_dirs(request.param)
    return lambda: load_pipeline(directory, device="cpu")


def _silent_audio_latents(pipe: Any, tokens: int) -> torch.Tensor:
    """Unpacked audio latents (1, C, L, M) that the pipeline packs and normalises to exactly zero: the clean audio
    of the trainer's "silence" regime."""
    mean = pipe.audio_vae.latents_mean.float().view(1, 1, -1).expand(1, tokens, -1)
    bins = pipe.audio_mel_bins // pipe.audio_vae_mel_compression_ratio
    return pipe._unpack_audio_latents(mean.clone(), tokens, bins)


def pipeline_transformer_call(
    pipe: Any, target_latents: torch.Tensor, ref_frames: np.ndarray, caption: str, downscale: int,
    audio_latents: torch.Tensor | None = None, temporal: int = 1, **extra: Any,
) -> dict[str, Any]:
    """Run LTX2InContextPipeline (or our subclass, with `extra` arguments such as a reference voice) for one step
    from a known clean target at SIGMA (and known clean audio latents when given, else the pipeline's own noise);
    return the transformer kwargs of its first call."""
    pipe.scheduler = FlowMatchEulerDiscreteScheduler()  # no shift: the first timestep is exactly SIGMA * 1000
    captured: dict[str, Any] = {}
    forward = pipe.transformer.forward

    def spy(*args: Any, **kwargs: Any) -> Any:
        if not captured:
            captured.update(kwargs)
        return forward(*args, **kwargs)

    pipe.transformer.forward = spy
    pipe(
        prompt=caption,
        reference_conditions=[LTX2ReferenceCondition(frames=ref_frames.astype(np.float32) / 255.0)],
        reference_downscale_factor=downscale,
        latents=target_latents[None],  # the pipeline normalises them like the trainer does
        sigmas=[SIGMA, SIGMA / 2],
        noise_scale=SIGMA,
        num_inference_steps=2,
        height=BUCKET.height,
        width=BUCKET.width,
        num_frames=BUCKET.frames,
        frame_rate=BUCKET.fps,
        **NO_GUIDANCE,
        max_sequence_length=32,
        generator=torch.Generator().manual_seed(SEED),
        audio_latents=audio_latents,
        output_type="latent",
        **({"reference_temporal_scale_factor": temporal} if temporal != 1 else {}),
        **extra,
    )
    pipe.transformer.forward = forward
    return captured


def _compare_with_pipeline(
    pipe: Any, pair: Pair, downscale: int, tmp_path: Path, audio: str = "silence", temporal: int = 1
) -> tuple[dict[str, Any], int, int]:
    """Build our step inputs in the `audio` regime and the pipeline's for `pair`; assert what is identical; return ours.

    "silence" (the Studio's regime: the audio stream denoised alongside, as LTX2InContextPipeline generates) must
    give every transformer input and both predictions exactly as the real pipeline call. "isolated" (ltx-trainer's
    video-only regime) gives the same video inputs, but its audio stream is one token cut off from the video, so the
    video prediction differs from the pipeline's: the test shows by how much instead of hiding it.
    """
    prepare(pipe, [pair], BUCKET, tmp_path / "cache", downscale=downscale, max_sequence_length=32, temporal=temporal)
    cached = load_cache(tmp_path / "cache")[0]
    _, ref_frames, _ = conform_pair(pair, BUCKET, downscale, temporal)

    c, f, h, w = cached.target_latents.shape
    _, rf, rh, rw = cached.reference_latents.shape
    num_target, num_ref = f * h * w, rf * rh * rw
    tokens, channels = audio_token_shape(pipe, BUCKET)
    # The pipeline draws from one generator: noise over target + reference tokens (the reference part is masked
    # out), then the audio noise.
    gen = torch.Generator().manual_seed(SEED)
    noise = torch.randn((1, num_target + num_ref, c), generator=gen)[:, :num_target]
    audio_noise = torch.randn((1, tokens, channels), generator=gen)
    silent = (torch.zeros(1, tokens, channels), audio_noise) if audio == "silence" else None
    ours = build_step_inputs(pipe, [cached], torch.tensor([SIGMA]), noise, torch.tensor([False]), BUCKET.fps,
                             downscale, silent, temporal)
    got = ours.model_kwargs
    expected = pipeline_transformer_call(pipe, cached.target_latents, ref_frames, pair.caption, downscale,
                                          _silent_audio_latents(pipe, tokens), temporal)

    for key in VIDEO_KEYS + (AUDIO_KEYS if audio == "silence" else ()):
        a, b = got.get(key), expected.get(key)
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            assert a.shape == b.shape and a.dtype == b.dtype, key
            assert torch.equal(a, b), f"{key}: max difference {(a.float() - b.float()).abs().max().item()}"
        else:
            assert a == b, key
    # Reference tokens are clean (timestep 0).
    assert torch.all(got["timestep"][0, num_target:] == 0)
    assert torch.all(got["timestep"][0, :num_target] == SIGMA * 1000)

    with torch.no_grad():
        theirs, their_audio = pipe.transformer(**{**expected, "return_dict": False})
        mine, my_audio = pipe.transformer(**got)
    if audio == "silence":
        assert torch.equal(mine, theirs) and torch.equal(my_audio, their_audio)
    else:
        assert got["isolate_modalities"] is True and expected["isolate_modalities"] is False
        assert got["audio_hidden_states"].shape[1] == 1 < expected["audio_hidden_states"].shape[1]
        assert not torch.equal(mine, theirs), "the isolated regime's video prediction is not the pipeline's"
    return got, num_target, num_ref


@pytest.mark.parametrize("downscale", [1, 2])
def test_training_inputs_equal_the_pipelines_transformer_inputs(
    downscale: int, load_tiny: Any, clip_factory: Any, tmp_path: Path
) -> None:
    pipe = load_tiny()
    pair = Pair(0, "a moving test pattern", clip_factory("target", 1), clip_factory("reference", 1, degrade=True))
    got, num_target, num_ref = _compare_with_pipeline(pipe, pair, downscale, tmp_path)
    assert num_ref == num_target // downscale**2
    # Reference positions lie on the target grid scaled by d.
    assert got["video_coords"][0, 1, num_target:].max() == got["video_coords"][0, 1, :num_target].max()


def test_a_reference_at_half_the_frame_rate_gives_the_pipelines_inputs_and_ends_with_the_target(
    load_tiny: Any, clip_factory: Any, tmp_path: Path
) -> None:
    """Reference temporal scale factor 2 (ltx-trainer's): every 2nd frame, time positions spread over the target's."""
    pipe = load_tiny()
    pair = Pair(0, "a moving test pattern", clip_factory("target", 1), clip_factory("reference", 1, degrade=True))
    got, num_target, num_ref = _compare_with_pipeline(pipe, pair, 1, tmp_path, temporal=2)
    target_frames, ref_frames = (BUCKET.frames - 1) // 8 + 1, (BUCKET.frames // 2) // 8 + 1  # 3 and 2 latent frames
    assert num_ref * target_frames == num_target * ref_frames
    time = got["video_coords"][0, 0]
    assert time[num_target:, 1].max() == time[:num_target, 1].max()  # the reference ends with the target
    assert time[num_target:, 0].min() == 0  # and its causal first patch starts at 0


def test_ltx_trainers_video_only_regime_feeds_the_same_video_but_predicts_otherwise_than_the_pipeline(
    load_tiny: Any, clip_factory: Any, tmp_path: Path
) -> None:
    pipe = load_tiny()
    pair = Pair(0, "a moving test pattern", clip_factory("target", 1), clip_factory("reference", 1, degrade=True))
    _compare_with_pipeline(pipe, pair, 1, tmp_path, audio="isolated")


def test_a_still_image_reference_gives_the_pipelines_inputs_too(
    load_tiny: Any, clip_factory: Any, tmp_path: Path
) -> None:
    """Identity adapters: one photo of the subject per clip, so the reference is a single latent frame."""
    import subprocess

    still = tmp_path / "subject.png"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_factory("reference", 2)), "-frames:v", "1",
                    str(still)], check=True)
    pipe = load_tiny()
    pair = Pair(0, "the subject walks through a park", clip_factory("target", 2), still)
    got, num_target, num_ref = _compare_with_pipeline(pipe, pair, 1, tmp_path)
    latent_frames = (BUCKET.frames - 1) // 8 + 1
    assert num_ref == num_target // latent_frames  # one latent frame of reference tokens
    assert got["video_coords"][0, 0, num_target:].max() <= got["video_coords"][0, 0, :num_target].max()


def test_first_frame_conditioning_keeps_the_first_latent_frame_clean_and_out_of_the_loss(
    load_tiny: Any, three_pairs: Path, tmp_path: Path
) -> None:
    from engine.dataset import read_manifest

    pipe = load_tiny()
    prepare(pipe, read_manifest(three_pairs)[:1], BUCKET, tmp_path / "cache", max_sequence_length=32)
    cached = load_cache(tmp_path / "cache")[0]
    c, f, h, w = cached.target_latents.shape
    noise = torch.randn(1, f * h * w, c)
    inputs = build_step_inputs(pipe, [cached], torch.tensor([0.8]), noise, torch.tensor([True]), 24.0, 1)
    first = h * w
    x_t = inputs.model_kwargs["hidden_states"][0, :first]
    x0 = pipe._normalize_latents(cached.target_latents[None], pipe.vae.latents_mean, pipe.vae.latents_std)
    assert torch.allclose(x_t, pipe._pack_latents(x0)[0, :first])
    assert torch.all(inputs.model_kwargs["timestep"][0, :first] == 0)
    assert torch.all(inputs.model_kwargs["timestep"][0, first : f * h * w] == 800)
    assert inputs.loss_mask[0, :first].sum() == 0 and inputs.loss_mask[0, first:].min() == 1

    pred = torch.randn_like(inputs.velocity)
    changed_first = pred.clone()
    changed_first[:, :first] += 100.0
    assert masked_mse(changed_first, inputs.velocity, inputs.loss_mask) == masked_mse(
        pred, inputs.velocity, inputs.loss_mask
    )


def test_sigmas_are_shifted_logit_normal_with_a_tenth_uniform() -> None:
    gen = torch.Generator().manual_seed(0)
    small = sample_sigmas(20000, 1024, 0.1, gen)
    large = sample_sigmas(20000, 4096, 0.1, gen)
    assert small.min() > 0 and large.max() <= 1
    assert sigma_shift(1024) == pytest.approx(0.95) and sigma_shift(4096) == pytest.approx(2.05)
    assert large.median() > small.median() + 0.1  # more tokens -> more noise
    only_uniform = sample_sigmas(20000, 4096, 1.0, gen)
    assert abs(only_uniform.mean().item() - 0.5) < 0.01
    # With 10% uniform draws, the low-noise tail that the shifted logit-normal almost never visits is reached.
    assert (large < 0.1).float().mean() > 0.5 * 0.1 * 0.1
    assert (sample_sigmas(20000, 4096, 0.0, gen) < 0.1).float().mean() < (large < 0.1).float().mean()


def test_a_step_without_reference_frames_is_text_to_video_and_audio_can_be_denoised_alongside(
    load_tiny: Any, three_pairs: Path, tmp_path: Path
) -> None:
    """The demo model's pretraining step: no reference tokens, and the audio stream noised at the video's sigma
    with isolate_modalities off, as LTX2InContextPipeline generates."""
    from dataclasses import replace

    from engine.dataset import read_manifest
    from engine.train import step_loss

    pipe = load_tiny()
    prepare(pipe, read_manifest(three_pairs)[:1], BUCKET, tmp_path / "cache", max_sequence_length=32)
    cached = load_cache(tmp_path / "cache")[0]
    c, f, h, w = cached.target_latents.shape
    no_reference = replace(cached, reference_latents=torch.zeros(c, 0, h, w))
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(1, f * h * w, c, generator=gen)
    audio_x0 = torch.randn(1, 25, pipe.transformer.config.audio_in_channels, generator=gen)
    audio_noise = torch.randn(audio_x0.shape, generator=gen)
    inputs = build_step_inputs(pipe, [no_reference], torch.tensor([0.25]), noise, torch.tensor([False]), 24.0, 1,
                               audio=(audio_x0, audio_noise))
    kwargs = inputs.model_kwargs
    assert kwargs["hidden_states"].shape == (1, f * h * w, c) and kwargs["video_coords"].shape[2] == f * h * w
    assert kwargs["isolate_modalities"] is False and kwargs["audio_num_frames"] == 25
    assert torch.allclose(kwargs["audio_hidden_states"], 0.25 * audio_noise + 0.75 * audio_x0)
    assert inputs.audio_velocity is not None and torch.equal(inputs.audio_velocity, audio_noise - audio_x0)
    with torch.no_grad():
        video_only = step_loss(pipe, inputs, audio_weight=0.0)
        both = step_loss(pipe, inputs, audio_weight=1.0)
    assert both > video_only  # the audio stream's error counts when asked for

    isolated = build_step_inputs(pipe, [cached], torch.tensor([0.25]), noise, torch.tensor([False]), 24.0, 1)
    assert isolated.model_kwargs["isolate_modalities"] is True and isolated.audio_velocity is None
    assert isolated.model_kwargs["audio_hidden_states"].shape[1] == 1
