"""Sound in and out of LTX-2's audio VAE: a clip's soundtrack or a voice file -> latents -> sound.

diffusers' LTX-2 pipelines only ever *decode* audio (latents -> mel -> vocoder); the way in is Lightricks' own
(ltx-core's `AudioProcessor`, which ltx-trainer's preprocessing uses): the waveform at the audio VAE's sample rate,
a magnitude mel spectrogram (n_fft 1024, hop `mel_hop_length`, Hann window, centred with reflection, 0 Hz to Nyquist,
Slaney mel scale and norm), its log clamped at 1e-5, laid out (B, channels, time, mel bins); the VAE's encoder then
gives the distribution's mode. Latents are cached raw (C, L, M) like the video latents; `pack_audio` packs and
normalises them exactly as `LTX2InContextPipeline.prepare_audio_latents` does with latents it is given.

Audio latents run at `sample_rate / hop / 4` per second (25 on LTX-2): a clip of `seconds` has
`round(seconds * 25)` latent frames, the count the pipeline denoises (`audio_latent_frames`).

A *voice reference* (issue 19's identity with a voice) is checked before it is used: it must have sound, decode,
last at least `min_seconds` and not be silent (`load_voice`); only its first `max_seconds` are kept.
Its tokens join the audio stream clean (timestep 0, no loss), with time positions from the model's own audio RoPE
helper (`reference_audio_coords`): by default *before* the clip (ltx-core's Dub-It / ID-LoRA placement: the
reference ends 0.04 s before the clip starts), or overlapping the clip from 0 (ltx-trainer's flexible strategy).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .media import (
    SILENCE_DBFS,
    VOICE_MAX_SECONDS,
    VOICE_MIN_SECONDS,
    AudioError,
    decode_audio,
    measure_voice,
    probe_audio,
    rms_dbfs,
)

__all__ = [
    "SILENCE_DBFS",
    "VOICE_MAX_SECONDS",
    "VOICE_MIN_SECONDS",
    "AudioError",
    "ReferenceAudioPlacement",
    "audio_latent_frames",
    "decode_latents",
    "encode_clip_audio",
    "encode_voice",
    "encode_wave",
    "load_voice",
    "mel_spectrogram",
    "pack_audio",
    "reference_audio_coords",
    "rms_dbfs",
]

N_FFT = 1024  # ltx-core's AudioEncoder default (the real checkpoints' config names no other)
LOG_FLOOR = 1e-5
# ltx-core's Dub-It places a reference this far before the clip: one audio latent frame (1 / 25 s).
REFERENCE_GAP_S = 0.04

ReferenceAudioPlacement = Literal["before", "overlap"]


# ---------------------------------------------------------------------------------------------------------
# Waveform -> log-mel spectrogram


def _hz_to_mel(freq: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    linear = freq / f_sp
    return torch.where(freq >= min_log_hz, min_log_mel + torch.log(freq.clamp_min(1e-10) / min_log_hz) / logstep,
                       linear)


def _mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return torch.where(mels >= min_log_mel, min_log_hz * torch.exp(logstep * (mels - min_log_mel)), f_sp * mels)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int) -> torch.Tensor:
    """Triangular Slaney-normalised mel filters (n_freqs, n_mels) from 0 Hz to Nyquist (torchaudio's
    `melscale_fbanks(..., norm="slaney", mel_scale="slaney")`, which ltx-core uses; torchaudio is not installed)."""
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float64)
    m_pts = torch.linspace(0.0, float(_hz_to_mel(torch.tensor(sample_rate / 2.0, dtype=torch.float64))), n_mels + 2,
                           dtype=torch.float64)
    f_pts = _mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]  # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    filters = torch.clamp(torch.minimum(down, up), min=0.0)
    enorm = 2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])
    return (filters * enorm[None, :]).float()


def mel_spectrogram(wave: torch.Tensor, sample_rate: int, n_mels: int, hop: int, n_fft: int = N_FFT) -> torch.Tensor:
    """Waveform (B, C, N) -> log-mel spectrogram (B, C, N // hop + 1, n_mels), as ltx-core's `AudioProcessor`."""
    b, c, n = wave.shape
    flat = wave.reshape(b * c, n).float()
    window = torch.hann_window(n_fft, device=wave.device)
    spec = torch.stft(flat, n_fft, hop_length=hop, win_length=n_fft, window=window, center=True, pad_mode="reflect",
                      return_complex=True).abs()  # (B*C, n_fft/2+1, T)
    mel = torch.matmul(spec.transpose(1, 2), mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate).to(spec.device))
    return torch.log(mel.clamp_min(LOG_FLOOR)).reshape(b, c, -1, n_mels)


# ---------------------------------------------------------------------------------------------------------
# Sound files -> waveforms, with the checks a creator's voice file needs


def _channels(pipe: Any) -> int:
    return int(pipe.audio_vae.config.in_channels)


def load_voice(
    path: Any, sample_rate: int, channels: int, min_seconds: float = VOICE_MIN_SECONDS,
    max_seconds: float = VOICE_MAX_SECONDS, silence_dbfs: float = SILENCE_DBFS,
) -> np.ndarray:
    """A voice reference's waveform (channels, samples) at `sample_rate`: its first `max_seconds`.

    Raises `AudioError` in words a creator understands when the file has no sound, cannot be read (a text file named
    .wav), lasts less than `min_seconds` or is silent (RMS below `silence_dbfs`).
    """
    info = probe_audio(path)
    name = Path(info.path).name
    # Judged as the web's checks judge it (mono), then decoded as the model hears it.
    heard = measure_voice(path, longest=max_seconds, used=max_seconds)
    problems = heard.problems(min_seconds, silence_dbfs)
    if "too_short" in problems:
        raise AudioError(f"{name}: the voice recording lasts {heard.seconds:.1f} s; at least {min_seconds:g} s of the "
                         f"person speaking are needed (5-15 s works best)")
    if "silent" in problems:
        level = heard.level_dbfs
        shown = "no sound at all" if math.isinf(level) else f"{level:.0f} dB"
        raise AudioError(f"{name}: the recording is silent ({shown}); record the person speaking, close to the "
                         "microphone")
    return decode_audio(path, sample_rate, channels, seconds=max_seconds)


def clip_wave(path: Any, sample_rate: int, channels: int, start: float, seconds: float) -> np.ndarray:
    """A clip's soundtrack from `start` for `seconds` (channels, round(seconds * rate)); a soundtrack that ends
    early is completed with silence (phones often stop the sound a few milliseconds before the picture)."""
    wave = decode_audio(path, sample_rate, channels, start=start, seconds=seconds)
    want = round(seconds * sample_rate)
    if wave.shape[1] < want:
        wave = np.pad(wave, ((0, 0), (0, want - wave.shape[1])))
    return wave[:, :want]


# ---------------------------------------------------------------------------------------------------------
# Waveforms <-> latents


def audio_latent_frames(pipe: Any, seconds: float) -> int:
    """Audio latent frames the pipeline denoises for `seconds` of video (its own formula)."""
    per_second = pipe.audio_sampling_rate / pipe.audio_hop_length / float(pipe.audio_vae_temporal_compression_ratio)
    return round(seconds * per_second)


@torch.no_grad()
def encode_wave(pipe: Any, wave: np.ndarray) -> torch.Tensor:
    """Waveform (channels, samples) at the audio VAE's rate -> raw latents (C, L, M), the encoder's mode.

    Raises ValueError when the model's audio VAE does not compress as the pipeline assumes (its transformer could
    not take the latents), rather than failing later inside the transformer.
    """
    vae = pipe.audio_vae
    mel = mel_spectrogram(torch.from_numpy(np.ascontiguousarray(wave))[None], pipe.audio_sampling_rate,
                          pipe.audio_mel_bins, pipe.audio_hop_length)
    latents = vae.encode(mel.to(device=vae.device, dtype=vae.dtype)).latent_dist.mode()[0].float().cpu()
    latent_bins = pipe.audio_mel_bins // pipe.audio_vae_mel_compression_ratio
    # The normalisation statistics are per packed channel (C * M): what the transformer's audio stream takes.
    if latents.shape[2] != latent_bins or latents.shape[0] * latents.shape[2] != vae.latents_mean.numel():
        raise ValueError(
            f"this model's audio VAE gives latents of {latents.shape[2]} mel bins where the pipeline expects "
            f"{latent_bins} (it does not compress {pipe.audio_vae_mel_compression_ratio}x as LTX-2's does): it "
            "cannot encode sound for this transformer"
        )
    return latents


def _fit_frames(latents: torch.Tensor, frames: int) -> torch.Tensor:
    """Latents (C, L, M) cut, or completed by repeating the last frame, to `frames` frames (the causal encoder
    gives about one frame more than the pipeline's count)."""
    if latents.shape[1] >= frames:
        return latents[:, :frames].contiguous()
    tail = latents[:, -1:].expand(-1, frames - latents.shape[1], -1)
    return torch.cat([latents, tail], dim=1)


def encode_clip_audio(pipe: Any, path: Any, start: float, seconds: float) -> torch.Tensor:
    """A clip's own soundtrack over [start, start + seconds) -> raw latents (C, L, M) with exactly the pipeline's
    L = `audio_latent_frames(seconds)`. Raises `AudioError` when the clip has no sound."""
    wave = clip_wave(path, pipe.audio_sampling_rate, _channels(pipe), start, seconds)
    return _fit_frames(encode_wave(pipe, wave), audio_latent_frames(pipe, seconds))


def encode_voice(
    pipe: Any, path: Any, min_seconds: float = VOICE_MIN_SECONDS, max_seconds: float = VOICE_MAX_SECONDS
) -> torch.Tensor:
    """A voice reference (checked by `load_voice`) -> raw latents (C, Lr, M), Lr the pipeline's count for its
    length."""
    wave = load_voice(path, pipe.audio_sampling_rate, _channels(pipe), min_seconds, max_seconds)
    return _fit_frames(encode_wave(pipe, wave), audio_latent_frames(pipe, wave.shape[1] / pipe.audio_sampling_rate))


def pack_audio(pipe: Any, latents: torch.Tensor) -> torch.Tensor:
    """Raw latents (B, C, L, M) -> normalised tokens (B, L, C*M), as `prepare_audio_latents` treats given latents."""
    vae = pipe.audio_vae
    return pipe._normalize_audio_latents(pipe._pack_audio_latents(latents), vae.latents_mean, vae.latents_std)


@torch.no_grad()
def decode_latents(pipe: Any, latents: torch.Tensor) -> torch.Tensor:
    """Raw latents (B, C, L, M) -> waveform (B, channels, samples) at `pipe.vocoder.config.output_sampling_rate`,
    the pipeline's own decoding (audio VAE to mel, then the vocoder)."""
    vae = pipe.audio_vae
    mel = vae.decode(latents.to(device=vae.device, dtype=vae.dtype), return_dict=False)[0]
    return pipe.vocoder(mel.to(pipe.vocoder.dtype)).float().cpu()


# ---------------------------------------------------------------------------------------------------------
# Reference audio tokens in the audio stream


def reference_audio_coords(
    transformer: Any, batch: int, frames: int, placement: ReferenceAudioPlacement, device: Any
) -> torch.Tensor:
    """Time positions (B, 1, Lr, 2) in seconds of `frames` reference audio tokens, from the model's own helper
    (`audio_rope.prepare_audio_coords`). "overlap": as it places any audio, from 0 (ltx-trainer's flexible strategy
    puts a reference so). "before": moved back so the reference ends `REFERENCE_GAP_S` before the clip begins
    (ltx-core's Dub-It, the ID-LoRA placement): a voice sample is not in sync with the clip, so it should not share
    its times."""
    coords = transformer.audio_rope.prepare_audio_coords(batch, frames, device)
    if placement == "before":
        coords = coords - coords[:, :, -1:, 1:].amax() - REFERENCE_GAP_S
    return coords
