"""Sound through LTX-2's audio VAE (engine.audio): a clip's soundtrack or a voice file to latents and back, and the
plain messages a creator gets for sound that cannot be used.

The tiny model's audio VAE and vocoder have LTX-2's layout at tiny widths (4x compression in time and mel bins,
hop-length upsampling; `engine.tiny_model`), with latent statistics set from tones, so sound goes through them as it
goes through the real model's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTX2Audio

from engine.audio import (
    AudioError,
    audio_latent_frames,
    decode_latents,
    encode_clip_audio,
    encode_voice,
    encode_wave,
    load_voice,
    mel_filterbank,
    mel_spectrogram,
    pack_audio,
)
from engine.buckets import Bucket
from engine.loader import SHIPPED_DEMO_MODEL, load_pipeline
from engine.media import add_sound, probe, probe_audio, write_mp4, write_wav
from engine.train import audio_token_shape

BUCKET = Bucket(width=128, height=128, frames=17, fps=24.0)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def tone(path: Path, hz: float, seconds: float, volume: float = 1.0) -> Path:
    """A sine tone file (wav, mp3 or m4a by the suffix) of `seconds`."""
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency={hz}:sample_rate=44100:duration={seconds}",
            "-af", f"volume={volume}", str(path))
    return path


def clip_with_sound(path: Path, seed: int, hz: float, seconds: float = 1.0, size: int = 128) -> Path:
    """A moving test pattern with a sine tone as its soundtrack (mp4, AAC)."""
    _ffmpeg("-f", "lavfi", "-i", f"gradients=s={size}x{size}:r=24:d={seconds}:seed={seed}:speed=0.03",
            "-f", "lavfi", "-i", f"sine=frequency={hz}:sample_rate=44100:duration={seconds}",
            "-t", str(seconds), "-vf", f"hue=h={(seed * 47) % 360},format=yuv420p", "-c:v", "libx264", "-crf", "18",
            "-c:a", "aac", "-shortest", str(path))
    return path


def old_tiny_audio_vae() -> Any:
    """The audio VAE the tiny model had before it took LTX-2's layout: one resolution level (`ch_mult=(1,)`), so it
    does not compress 4x in time and mel bins and its latents do not fit the transformer's audio channels."""
    return AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8,
    ).eval()


def test_a_clips_sound_goes_to_the_pipelines_audio_latents_and_back_to_sound_of_its_length(
    load_tiny: Any, tmp_path: Path
) -> None:
    pipe = load_tiny()
    clip = clip_with_sound(tmp_path / "clip.mp4", 1, 440.0)
    seconds = BUCKET.frames / BUCKET.fps
    latents = encode_clip_audio(pipe, clip, 0.0, seconds)
    tokens, channels = audio_token_shape(pipe, BUCKET)
    assert latents.shape == (2, tokens, 2) and tokens == audio_latent_frames(pipe, seconds) == 18
    assert pack_audio(pipe, latents[None]).shape == (1, tokens, channels)

    wave = decode_latents(pipe, latents[None])  # (1, channels, samples)
    rate = pipe.vocoder.config.output_sampling_rate
    assert wave.shape[:2] == (1, 2) and torch.isfinite(wave).all()
    # The causal VAE decodes L latent frames to 4L - 3 mel frames: the sound is within one latent frame (40 ms).
    assert abs(wave.shape[2] / rate - seconds) < 1 / 25
    out = write_wav(wave[0].numpy(), tmp_path / "back.wav", rate)
    info = probe_audio(out)
    assert info.channels == 2 and info.sample_rate == rate and abs(info.duration - seconds) < 1 / 25

    video = write_mp4(np.zeros((17, 64, 64, 3), np.uint8), tmp_path / "speaks.mp4", 24.0)
    assert not probe(video).has_audio
    add_sound(video, wave[0].numpy(), rate)  # a generation's sound beside its frames
    assert probe(video).has_audio and probe(video).frames == 17


def test_a_voice_in_wav_mp3_m4a_or_a_videos_soundtrack_encodes_to_latents_of_its_length(
    load_tiny: Any, tmp_path: Path
) -> None:
    pipe = load_tiny()
    for voice in (tone(tmp_path / "v.wav", 300, 6), tone(tmp_path / "v.mp3", 300, 6), tone(tmp_path / "v.m4a", 300, 6),
                  clip_with_sound(tmp_path / "v.mp4", 2, 300, seconds=6, size=64)):
        latents = encode_voice(pipe, voice)
        # Compressed formats may add or drop a few milliseconds at the ends: within one latent frame.
        assert latents.shape[::2] == (2, 2) and abs(latents.shape[1] - audio_latent_frames(pipe, 6.0)) <= 1, voice.name
    long = encode_voice(pipe, tone(tmp_path / "long.wav", 300, 20), max_seconds=15)
    assert long.shape[1] == audio_latent_frames(pipe, 15.0)  # only the first 15 s are used


def test_silence_a_one_second_clip_a_text_file_named_wav_and_a_silent_video_get_plain_messages(
    tmp_path: Path, clip_factory: Any
) -> None:
    silent = tmp_path / "silent.wav"
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "6", str(silent))
    with pytest.raises(AudioError, match=r"silent.wav: the recording is silent"):
        load_voice(silent, 16000, 2)
    with pytest.raises(AudioError, match=r"quiet.wav: the recording is silent \(-\d+ dB\)"):
        load_voice(tone(tmp_path / "quiet.wav", 300, 6, volume=0.0005), 16000, 2)

    short = tone(tmp_path / "short.wav", 300, 1)
    with pytest.raises(AudioError, match=r"short.wav: the voice recording lasts 1.0 s; at least 5 s"):
        load_voice(short, 16000, 2)
    assert load_voice(short, 16000, 2, min_seconds=0.5).shape == (2, 16000)  # the minimum is a parameter

    text = tmp_path / "notes.wav"
    text.write_text("this is not a recording\n")
    with pytest.raises(AudioError, match=r"notes.wav: not a sound or video file that can be read"):
        load_voice(text, 16000, 2)
    with pytest.raises(AudioError, match=r"has no sound"):
        load_voice(clip_factory("target", 1), 16000, 2)  # the synthetic clips have no soundtrack
    with pytest.raises(AudioError, match=r"missing.wav: file not found"):
        load_voice(tmp_path / "missing.wav", 16000, 2)


def test_the_mel_spectrogram_puts_a_tones_energy_in_the_bin_of_its_pitch() -> None:
    filters = mel_filterbank(513, 8, 16000)
    assert filters.shape == (513, 8) and filters.min() >= 0
    t = torch.arange(16000) / 16000.0
    peaks = []
    for hz in (335.0, 1006.0, 3950.0):  # near the centres of bins 0, 2 and 6 of 8 Slaney mel bins up to 8 kHz
        wave = torch.sin(2 * torch.pi * hz * t).expand(1, 2, -1)
        mel = mel_spectrogram(wave, 16000, 8, 160)
        assert mel.shape == (1, 2, 16000 // 160 + 1, 8)
        peaks.append(int(mel[0, 0, 10:-10].mean(0).argmax()))
    assert peaks == [0, 2, 6]


def test_an_audio_vae_that_does_not_compress_as_ltx2s_is_refused_in_words_before_the_transformer_sees_it(
    load_tiny: Any,
) -> None:
    pipe = load_tiny()
    wave = np.zeros((2, 16000), np.float32)
    assert encode_wave(pipe, wave).shape == (2, 26, 2)  # the tiny model's own codec: 4x in time and in mel bins
    pipe.register_modules(audio_vae=old_tiny_audio_vae())
    with pytest.raises(ValueError, match=r"gives latents of 8 mel bins where the pipeline expects 2 .*cannot encode"):
        encode_wave(pipe, wave)


def test_the_shipped_demo_models_voice_tokens_are_normalised_by_its_calibrated_statistics(tmp_path: Path) -> None:
    """The demo's audio VAE has statistics set from tones: a voice's normalised tokens sit around 0 at unit scale,
    not at the random encoder's arbitrary offset, so different voices are told apart by the transformer."""
    pipe = load_pipeline(SHIPPED_DEMO_MODEL, device="cpu")
    low, high = (encode_voice(pipe, tone(tmp_path / f"{hz}.wav", hz, 6), min_seconds=5) for hz in (300, 2500))
    tokens = pack_audio(pipe, torch.stack([low, high]))  # (2, L, 4)
    assert tokens.mean().abs() < 1.0 and 0.2 < tokens.std() < 3.0
    assert (tokens[0] - tokens[1]).abs().mean() > 0.3  # two pitches give tokens apart by a good part of a σ
