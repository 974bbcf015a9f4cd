"""Identity with a reference voice (issue 19): the clip's own sound trained alongside the video, a reference voice's
clean tokens in the audio stream, the same transformer inputs in training and at inference, and an adapter that
learns to use the voice."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open

from engine.audio import REFERENCE_GAP_S, AudioError, ReferenceAudioPlacement, encode_voice, pack_audio
from engine.config import AUDIO_LORA_TARGETS, LORA_TARGETS, TrainConfig
from engine.dataset import (
    AudioCaching,
    Pair,
    PairError,
    conform_pair,
    load_cache,
    prepare,
    read_manifest,
    write_manifest,
)
from engine.export import read_adapter
from engine.inference import GenerationSpec, generate
from engine.loader import load_pipeline
from engine.media import probe, probe_audio
from engine.train import audio_token_shape, batch_reference_audio, build_step_inputs, evaluate, step_losses, train
from tests.training.conftest import tiny_config
from tests.training.test_audio import BUCKET, clip_with_sound, tone
from tests.training.test_step import AUDIO_KEYS, SIGMA, VIDEO_KEYS, pipeline_transformer_call

SEED = 7
# Pitches near the centres of the 8 mel bins of the tiny codec (Slaney scale up to 8 kHz): each tone lights its own bin.
PITCHES = (335, 670, 1006, 1410, 1990, 2800, 3950, 5600)


def _still(video: Path, out: Path) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(video), "-frames:v", "1", str(out)], check=True)
    return out


def _speaking_pair(folder: Path, index: int, seed: int, pitch: float, voice_seconds: float = 2.0,
                   size: int = 128) -> Pair:
    """Identity with a voice: the target clip speaks (a tone of `pitch`), the reference is a still of the subject and
    the reference voice is the same pitch for `voice_seconds`: only the voice tells the clip's sound."""
    clip = clip_with_sound(folder / f"clip_{index:02d}.mp4", seed, pitch, size=size)
    return Pair(index, "a person speaks", clip, _still(clip, folder / f"face_{index:02d}.png"),
                reference_audio=tone(folder / f"voice_{index:02d}.wav", pitch, voice_seconds))


@pytest.mark.parametrize("placement", ["before", "overlap"])
def test_a_step_with_the_clips_sound_and_a_reference_voice_feeds_the_transformer_what_the_pipeline_call_does(
    placement: ReferenceAudioPlacement, load_tiny: Any, tmp_path: Path
) -> None:
    """No argument substituted: the pipeline runs from the same clean video and sound at the same sigma with the
    same voice, and every transformer input and both predictions must be identical."""
    pipe = load_tiny()
    pair = _speaking_pair(tmp_path, 0, 1, 670.0, voice_seconds=1.0)
    prepare(pipe, [pair], BUCKET, tmp_path / "cache", max_sequence_length=32,
            audio=AudioCaching(clip=True, reference=True, min_seconds=0.5))
    cached = load_cache(tmp_path / "cache")[0]
    assert cached.audio_latents is not None and cached.reference_audio_latents is not None
    _, ref_frames, _ = conform_pair(pair, BUCKET, 1)

    c, f, h, w = cached.target_latents.shape
    _, rf, rh, rw = cached.reference_latents.shape
    num_target, num_ref = f * h * w, rf * rh * rw
    tokens, channels = audio_token_shape(pipe, BUCKET)
    voice_tokens = cached.reference_audio_latents.shape[1]
    gen = torch.Generator().manual_seed(SEED)  # the pipeline's draws: video noise (target + reference), then audio
    noise = torch.randn((1, num_target + num_ref, c), generator=gen)[:, :num_target]
    audio_noise = torch.randn((1, tokens, channels), generator=gen)
    clean = pack_audio(pipe, cached.audio_latents[None].float())
    ours = build_step_inputs(pipe, [cached], torch.tensor([SIGMA]), noise, torch.tensor([False]), BUCKET.fps, 1,
                             (clean, audio_noise), 1, batch_reference_audio(pipe, [cached]), placement)
    got = ours.model_kwargs
    # The pipeline packs, normalises and noises the clip's sound like the trainer; the voice goes in as given.
    expected = pipeline_transformer_call(pipe, cached.target_latents, ref_frames, pair.caption, 1,
                                         cached.audio_latents[None],
                                         reference_audio_latents=cached.reference_audio_latents,
                                         reference_audio_placement=placement)

    for key in VIDEO_KEYS + AUDIO_KEYS:
        a, b = got.get(key), expected.get(key)
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            assert a.shape == b.shape and a.dtype == b.dtype, key
            assert torch.equal(a, b), f"{key}: max difference {(a.float() - b.float()).abs().max().item()}"
        else:
            assert a == b, key
    assert got["audio_hidden_states"].shape[1] == tokens + voice_tokens
    timestep = got["audio_timestep"][0]
    assert torch.all(timestep[:tokens] == SIGMA * 1000) and torch.all(timestep[tokens:] == 0)
    times = got["audio_coords"][0, 0]
    if placement == "before":  # the voice ends one latent frame before the clip's sound starts
        assert times[tokens:, 1].max().item() == pytest.approx(-REFERENCE_GAP_S) and times[:tokens].min() == 0
    else:
        from_zero = pipe.transformer.audio_rope.prepare_audio_coords(1, voice_tokens, "cpu")[0, 0]
        assert torch.equal(times[tokens:], from_zero)

    with torch.no_grad():
        theirs, their_audio = pipe.transformer(**{**expected, "return_dict": False})
        mine, my_audio = pipe.transformer(**got)
    assert torch.equal(mine, theirs) and torch.equal(my_audio, their_audio)
    # The voice's tokens are predicted too but are in no loss: only the clip's own A tokens are compared.
    _, audio_loss = step_losses(pipe, ours)
    assert audio_loss is not None and torch.isfinite(audio_loss) and my_audio.shape[1] == tokens + voice_tokens


def test_reference_audio_needs_the_clip_regime_and_adds_the_audio_modules_to_the_default_targets(
    tmp_path: Path, three_pairs: Path, tiny_model_dir: Path
) -> None:
    raw = tiny_config(tmp_path, three_pairs, tiny_model_dir)
    with pytest.raises(ValueError, match=r"needs diffusion\.audio: clip"):
        TrainConfig.model_validate({**raw, "data": {**raw["data"], "reference_audio": True}})
    voice = TrainConfig.model_validate({**raw, "data": {**raw["data"], "reference_audio": True},
                                        "diffusion": {"audio": "clip"}})
    assert voice.lora.targets == [*LORA_TARGETS, *AUDIO_LORA_TARGETS]
    chosen = TrainConfig.model_validate({**raw, "data": {**raw["data"], "reference_audio": True},
                                         "diffusion": {"audio": "clip"},
                                         "lora": {"rank": 8, "targets": ["attn1.to_q"]}})
    assert chosen.lora.targets == ["attn1.to_q"]
    plain = TrainConfig.model_validate(raw)
    assert plain.lora.targets == list(LORA_TARGETS)
    assert voice.config_hash() != plain.config_hash()


def test_the_manifest_carries_a_reference_voice_and_a_pair_without_one_is_named(
    load_tiny: Any, tmp_path: Path, clip_factory: Any
) -> None:
    pipe = load_tiny()
    with_voice = _speaking_pair(tmp_path, 0, 1, 670.0, voice_seconds=1.0)
    without = Pair(1, "a person speaks", with_voice.video, with_voice.reference)
    manifest = write_manifest([with_voice, without], tmp_path / "manifest.jsonl")
    assert json.loads(manifest.read_text().splitlines()[0])["reference_audio"] == str(with_voice.reference_audio)
    read = read_manifest(manifest)
    assert read[0].reference_audio == with_voice.reference_audio and read[1].reference_audio is None
    (tmp_path / "ours.csv").write_text(f"caption,video,reference_video,reference_audio_path\nhi,{with_voice.video},"
                                       f"{with_voice.reference},{with_voice.reference_audio}\n")
    assert read_manifest(tmp_path / "ours.csv")[0].reference_audio == with_voice.reference_audio

    with pytest.raises(PairError, match=r"pair 2 .*no reference voice"):
        prepare(pipe, read, BUCKET, tmp_path / "cache", max_sequence_length=32,
                audio=AudioCaching(clip=True, reference=True, min_seconds=0.5))
    with pytest.raises(PairError, match=r"pair 1 .*reference voice voice_00.wav: the voice recording lasts 1.0 s"):
        prepare(pipe, read[:1], BUCKET, tmp_path / "cache", max_sequence_length=32,
                audio=AudioCaching(clip=True, reference=True))
    silent = Pair(0, "a person speaks", clip_factory("target", 1), clip_factory("reference", 1, degrade=True))
    with pytest.raises(PairError, match=r"has no sound \(the clip's own sound is trained"):
        prepare(pipe, [silent], BUCKET, tmp_path / "cache", max_sequence_length=32, audio=AudioCaching(clip=True))


def test_generate_takes_a_reference_voice_hears_it_and_returns_the_sound(load_tiny: Any, tmp_path: Path) -> None:
    pipe = load_tiny()
    spec = GenerationSpec(prompt="a person speaks", num_frames=17, height=128, width=128, num_inference_steps=2,
                          still_reference=True, max_sequence_length=32)
    face = np.full((1, 128, 128, 3), 128, np.uint8)
    voice = tone(tmp_path / "voice.wav", 670, 6)
    with_voice = generate(pipe, spec, face, None, reference_audio=voice)
    without = generate(pipe, spec, face, None)
    assert with_voice.audio is not None and without.audio is not None
    assert with_voice.audio.shape == without.audio.shape and with_voice.audio.shape[0] == 2
    assert with_voice.audio_sample_rate == 16000
    assert abs(with_voice.audio.shape[1] / 16000 - 17 / 24) < 1 / 25
    assert np.abs(with_voice.audio - without.audio).max() > 0  # the voice reached the generation
    assert np.array_equal(with_voice.output.shape, without.output.shape)
    with pytest.raises(AudioError, match=r"lasts 1\.0 s"):
        generate(pipe, spec, face, None, reference_audio=tone(tmp_path / "short.wav", 670, 1))
    assert encode_voice(pipe, voice).shape[1] == 150


# A few hundred steps of the tiny model on 2 cores; headroom for a shared machine.
@pytest.mark.timeout(900)
def test_after_training_on_voices_the_held_out_sound_loss_is_lower_with_the_true_voice_than_a_swapped_one(
    tmp_path: Path, tiny_model_dir: Path, raw_config: Callable[..., dict[str, Any]]
) -> None:
    """Eight clips speak in eight pitches, each with its voice at the same pitch; every caption and face says
    nothing about the pitch. Two held-out clips with new faces: the adapter must take their sound from the voice."""
    folder = tmp_path / "pairs"
    folder.mkdir()
    pairs = [_speaking_pair(folder, i, 10 + i, pitch, size=64) for i, pitch in enumerate(PITCHES)]
    pairs += [_speaking_pair(folder, 8, 40, PITCHES[2], size=64), _speaking_pair(folder, 9, 41, PITCHES[5], size=64)]
    manifest = write_manifest(pairs, folder / "manifest.jsonl")
    raw = raw_config(tmp_path, manifest, tiny_model_dir,
                     bucket={"width": 64, "height": 64, "frames": 17, "fps": 24},
                     data={"validation_indices": [8, 9], "reference_audio": True, "reference_audio_min_seconds": 1.0},
                     diffusion={"audio": "clip"}, lora={"rank": 16}, optim={"steps": 200, "learning_rate": 3e-3})
    cfg = TrainConfig.model_validate(raw)
    result = train(cfg)
    assert result.status == "finished" and result.adapter_path is not None
    info = read_adapter(result.adapter_path)
    assert info.reference_audio and info.reference_audio_placement == "before"
    with safe_open(str(result.adapter_path), "pt") as f:
        assert (f.metadata() or {})["audio"] == "clip"

    held_out = load_cache(cfg.cache_dir, [8, 9])
    kwargs: dict[str, Any] = {"audio": "clip", "reference_audio": True, "measure": "audio"}
    untrained = load_pipeline(tiny_model_dir, device="cpu")
    before_true = evaluate(untrained, held_out, 1, **kwargs)
    before_swapped = evaluate(untrained, held_out, 1, swap_reference_audio=True, **kwargs)
    pipe = load_pipeline(tiny_model_dir, device="cpu")
    pipe.load_lora_weights(str(result.adapter_path))  # the exported bf16 file, as the Studio loads it
    true_voice = evaluate(pipe, held_out, 1, **kwargs)
    swapped_voice = evaluate(pipe, held_out, 1, swap_reference_audio=True, **kwargs)
    print(f"held-out audio loss: untrained {before_true:.4f} (swapped {before_swapped:.4f}); "
          f"trained {true_voice:.4f} (swapped {swapped_voice:.4f})")
    assert true_voice < before_true
    assert true_voice < 0.8 * swapped_voice


def test_a_voice_adapters_validation_samples_are_made_with_the_held_out_pairs_voice_and_carry_their_sound(
    tmp_path: Path, tiny_model_dir: Path, raw_config: Callable[..., dict[str, Any]], load_tiny: Any
) -> None:
    from engine.sample import ValidationSet, generate_av

    folder = tmp_path / "pairs"
    folder.mkdir()
    pairs = [_speaking_pair(folder, i, 10 + i, pitch, size=64) for i, pitch in enumerate(PITCHES[:3])]
    manifest = write_manifest(pairs, folder / "manifest.jsonl")
    cfg = TrainConfig.model_validate(raw_config(
        tmp_path, manifest, tiny_model_dir, bucket={"width": 64, "height": 64, "frames": 17, "fps": 24},
        data={"validation_indices": [2], "reference_audio": True, "reference_audio_min_seconds": 1.0},
        diffusion={"audio": "clip"}, validation={"num_inference_steps": 2}))
    pipe = load_tiny()
    validation = ValidationSet.build(pipe, cfg, pairs)
    [item] = validation.items
    assert item.voice is not None
    assert torch.equal(item.voice, encode_voice(pipe, pairs[2].reference_audio, min_seconds=1.0))

    [sample] = validation.render(pipe, 5, tmp_path / "samples")
    assert probe(sample).has_audio and abs(probe_audio(sample).duration - 17 / 24) < 0.1
    # The voice reached the denoiser: the same sample without it sounds different.
    with_voice = generate_av(pipe, item.reference, item.bucket, prompt_embeds=item.embeds, num_inference_steps=2,
                             voice=item.voice)[1]
    without = generate_av(pipe, item.reference, item.bucket, prompt_embeds=item.embeds, num_inference_steps=2)[1]
    assert with_voice.shape == without.shape and not np.allclose(with_voice, without, atol=1e-4)


def test_validation_voices_must_come_one_per_sample_and_only_for_a_voice_adapter(
    tmp_path: Path, tiny_model_dir: Path, raw_config: Callable[..., dict[str, Any]]
) -> None:
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("")
    still, voice = tmp_path / "face.png", tmp_path / "voice.wav"
    with pytest.raises(ValueError, match="needs a voice for each sample"):
        TrainConfig.model_validate(raw_config(
            tmp_path, manifest, tiny_model_dir, data={"reference_audio": True}, diffusion={"audio": "clip"},
            validation={"prompts": ["a", "b"], "reference_videos": [str(still), str(still)],
                        "reference_audios": [str(voice)]}))
    with pytest.raises(ValueError, match=r"reference_audios are given but data\.reference_audio is off"):
        TrainConfig.model_validate(raw_config(
            tmp_path, manifest, tiny_model_dir,
            validation={"prompts": ["a"], "reference_videos": [str(still)], "reference_audios": [str(voice)]}))
