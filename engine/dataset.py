"""Pairs in, cached latents out: read a manifest, conform every pair with ffmpeg, encode once, cache on disk.

A pair is a reference video (the conditioning) and a target video (what the model should produce) plus a
caption. Nothing is skipped silently: a pair that cannot be used raises `PairError` naming the pair and why.
The cache holds, per pair, the VAE latents of target and reference and the text embeddings after the
connectors, so training needs neither the text encoder nor the VAE encoder in memory.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .audio import VOICE_MAX_SECONDS, VOICE_MIN_SECONDS, encode_clip_audio, encode_voice, load_voice
from .buckets import Assignment, Bucket, assign_bucket, window_count
from .captions import with_trigger
from .columns import CAPTION_KEYS, REFERENCE_AUDIO_KEYS, REFERENCE_KEYS, VIDEO_KEYS
from .loader import encoding_name, ensure_text_encoder
from .media import AudioError, MediaError, VideoInfo, conform, probe, probe_audio

FPS_TOLERANCE = 0.01  # 29.97 vs 30000/1001 must compare equal
ASPECT_TOLERANCE = 0.02


class PairError(ValueError):
    """A pair that cannot be used, with its number, files and the reason."""


@dataclass(frozen=True)
class Pair:
    """One manifest row: caption, target video, reference video, optionally a reference voice (absolute paths)."""

    index: int
    caption: str
    video: Path
    reference: Path
    start: float = 0.0  # seconds into both clips where this training clip begins (a window of a long pair)
    reference_audio: Path | None = None  # 5-15 s of the person speaking (wav, mp3, m4a or a video's sound)

    def name(self) -> str:
        at = f" from {self.start:.2f} s" if self.start else ""
        return f"pair {self.index + 1} ({self.video.name} <- {self.reference.name}{at})"


@dataclass
class PairReport:
    """What conforming did to one pair, for the user to read."""

    index: int
    caption: str
    video: str
    reference: str
    source: dict[str, Any]
    actions: list[str] = field(default_factory=list)
    cache_file: str = ""
    cached: bool = False
    bucket: str = ""  # the label of the bucket the pair trains in, e.g. 768x448x121@24
    bucket_reason: str = ""  # why that bucket (closest aspect ratio, ties, buckets it is too short for)
    start: float = 0.0  # seconds into the clips (windows of a long pair)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pick(row: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = row.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def read_manifest(path: str | Path) -> list[Pair]:
    """Read a CSV, JSON (list of objects) or JSONL manifest; relative paths are relative to the manifest."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} not found")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    rows: list[dict[str, Any]]
    if suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    elif suffix == ".jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    elif suffix == ".json":
        data = json.loads(text)
        rows = data if isinstance(data, list) else data.get("pairs", data.get("data", []))
    else:
        raise ValueError(f"manifest {path.name}: use .csv, .json or .jsonl")
    pairs = []
    for i, row in enumerate(rows):
        video, reference = _pick(row, VIDEO_KEYS), _pick(row, REFERENCE_KEYS)
        if video is None or reference is None:
            missing = VIDEO_KEYS if video is None else REFERENCE_KEYS
            raise PairError(f"pair {i + 1} in {path.name}: no {' or '.join(missing)} column (have {sorted(row)})")
        voice = _pick(row, REFERENCE_AUDIO_KEYS)
        pairs.append(
            Pair(
                index=i,
                caption=(_pick(row, CAPTION_KEYS) or "").strip(),
                video=(path.parent / video).resolve(),
                reference=(path.parent / reference).resolve(),
                reference_audio=(path.parent / voice).resolve() if voice is not None else None,
            )
        )
    if not pairs:
        raise ValueError(f"manifest {path.name} lists no pairs")
    return pairs


def write_manifest(pairs: list[Pair], path: str | Path) -> Path:
    """Write pairs as a Lightricks-style JSONL manifest (`caption`, `video`, `reference_video`, and
    `reference_audio` for pairs with a reference voice, ltx-trainer's name)."""
    path = Path(path)

    def row(p: Pair) -> dict[str, str]:
        voice = {"reference_audio": str(p.reference_audio)} if p.reference_audio is not None else {}
        return {"caption": p.caption, "video": str(p.video), "reference_video": str(p.reference), **voice}

    lines = [json.dumps(row(p)) for p in pairs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _probe_pair(pair: Pair) -> tuple[VideoInfo, VideoInfo]:
    """Probe both videos and apply the rules between them (design note section 1): same fps, same frame count,
    same aspect ratio (the reference may be smaller by the downscale factor). A one-frame reference (a still image
    of the subject, as identity adapters use) needs only the same aspect ratio."""
    try:
        target = probe(pair.video)
        ref = probe(pair.reference)
    except MediaError as err:
        raise PairError(f"{pair.name()}: {err}") from err
    still = ref.frames == 1
    variable = target.variable_rate or ref.variable_rate  # an average rate: the frame counts must still match
    if not still and not variable and abs(target.fps - ref.fps) > FPS_TOLERANCE:
        raise PairError(f"{pair.name()}: different frame rates, target {target.fps:g} fps vs reference {ref.fps:g} fps")
    if not still and target.frames != ref.frames:
        raise PairError(
            f"{pair.name()}: different lengths, target {target.frames} frames vs reference {ref.frames} frames"
        )
    t_aspect, r_aspect = target.width / target.height, ref.width / ref.height
    if abs(t_aspect - r_aspect) / t_aspect > ASPECT_TOLERANCE:
        raise PairError(
            f"{pair.name()}: different aspect ratios, target {target.width}x{target.height} vs "
            f"reference {ref.width}x{ref.height}"
        )
    return target, ref


def _too_short(pair: Pair, target: VideoInfo, bucket: Bucket, several: bool) -> PairError:
    available = bucket.frames_from(target.frames, target.fps)
    needs = "every bucket is longer: the shortest needs" if several else "the bucket needs"
    return PairError(
        f"{pair.name()}: too short, {target.duration:.2f} s gives {available} frames at {bucket.fps:g} fps, "
        f"{needs} {bucket.frames} ({bucket.frames / bucket.fps:.2f} s)"
    )


def _actions(target: VideoInfo, ref: VideoInfo, bucket: Bucket, downscale: int, windows: int = 1) -> list[str]:
    """What conforming to `bucket` will do to the pair, in words."""
    actions = []
    if abs(target.fps - bucket.fps) > FPS_TOLERANCE:
        actions.append(f"resample {target.fps:g} -> {bucket.fps:g} fps")
    if (target.width, target.height) != (bucket.width, bucket.height):
        actions.append(
            f"resize and centre-crop target {target.width}x{target.height} -> {bucket.width}x{bucket.height}"
        )
    rw, rh = bucket.width // downscale, bucket.height // downscale
    if (ref.width, ref.height) != (rw, rh):
        actions.append(f"resize and centre-crop reference {ref.width}x{ref.height} -> {rw}x{rh}")
    available = bucket.frames_from(target.frames, target.fps)
    if windows > 1:
        actions.append(f"cut {available} frames into {windows} clips of {bucket.frames}")
    elif available > bucket.frames:
        actions.append(f"keep the first {bucket.frames} of {available} frames")
    if ref.frames == 1:
        actions.append("reference is a still image (one frame)")
    return actions


def check_pair(pair: Pair, bucket: Bucket, downscale: int) -> tuple[VideoInfo, VideoInfo, list[str]]:
    """Probe both videos, apply the pair rules and check the pair against one bucket.

    Returns their info and the planned actions; raises `PairError` when the pair breaks a rule or is too short
    for the bucket once resampled.
    """
    target, ref = _probe_pair(pair)
    return target, ref, _checked_against(pair, target, ref, bucket, downscale)


def _checked_against(pair: Pair, target: VideoInfo, ref: VideoInfo, bucket: Bucket, downscale: int) -> list[str]:
    """The conforming actions of a probed pair in `bucket`; raises `PairError` when it is too short from its start."""
    if bucket.frames_from(target.frames, target.fps) - round(pair.start * bucket.fps) < bucket.frames:
        raise _too_short(pair, target, bucket, several=False)
    return _actions(target, ref, bucket, downscale)


@dataclass(frozen=True)
class PairPlan:
    """What will happen to a pair: the bucket it trains in (and why) and the conforming actions."""

    assignment: Assignment
    actions: list[str]
    windows: int = 1  # training clips the pair gives: one per bucket length, one after another
    probed: tuple[VideoInfo, VideoInfo] | None = None  # (target, reference) as probed, so encoding need not again

    @property
    def bucket(self) -> Bucket:
        return self.assignment.bucket

    def window_pairs(self, pair: Pair) -> list[Pair]:
        """The pair once per window, each starting where the one before ends."""
        length = self.bucket.frames / self.bucket.fps
        return [replace(pair, start=round(k * length, 6)) for k in range(self.windows)]


def plan_pair(pair: Pair, buckets: list[Bucket], downscale: int, whole_clips: bool = False) -> PairPlan:
    """Probe and check a pair, then pick its bucket: the closest aspect ratio among the buckets its target can fill
    (see `buckets.assign_bucket`). With `whole_clips`, a pair longer than its bucket gives several windows.
    Raises `PairError` when it breaks a rule or is too short for every bucket."""
    target, ref = _probe_pair(pair)
    assignment = assign_bucket(target.width, target.height, target.frames, target.fps, buckets)
    if assignment is None:
        shortest = min(buckets, key=lambda b: b.frames / b.fps)
        raise _too_short(pair, target, shortest, several=len(buckets) > 1)
    bucket = assignment.bucket
    # A one-frame reference (identity) is shared by all of its clip's windows.
    windows = window_count(bucket.frames_from(target.frames, target.fps), bucket.frames) if whole_clips else 1
    return PairPlan(assignment, _actions(target, ref, bucket, downscale, windows), windows, (target, ref))


def conform_pair(
    pair: Pair, bucket: Bucket, downscale: int, temporal: int = 1, probed: tuple[VideoInfo, VideoInfo] | None = None
) -> tuple[np.ndarray, np.ndarray, PairReport]:
    """Check and decode one pair. Returns target frames (F, H, W, 3), reference ((F-1)/S+1, H/d, W/d, 3) at fps / S
    (S = `temporal`, the reference temporal scale factor; one frame for a still image), report. `probed` is the
    (target, reference) info `plan_pair` found (`PairPlan.probed`); without it both files are probed here."""
    if probed is None:
        target, ref, actions = check_pair(pair, bucket, downscale)
    else:
        target, ref = probed
        actions = _checked_against(pair, target, ref, bucket, downscale)
    try:
        target_frames = conform(pair.video, bucket.fps, bucket.width, bucket.height, bucket.frames, pair.start,
                                hdr=target.hdr)
        still = ref.frames == 1
        ref_frames = conform(
            pair.reference, bucket.fps / temporal, bucket.width // downscale, bucket.height // downscale,
            1 if still else bucket.reference_frames(temporal), 0.0 if still else pair.start, hdr=ref.hdr,
        )
    except MediaError as err:
        raise PairError(f"{pair.name()}: {err}") from err
    report = PairReport(
        index=pair.index,
        caption=pair.caption,
        video=str(pair.video),
        reference=str(pair.reference),
        source={"target": target.as_dict(), "reference": ref.as_dict()},
        actions=actions,
        bucket=bucket.label(),
        start=pair.start,
    )
    return target_frames, ref_frames, report


@dataclass(frozen=True)
class AudioCaching:
    """What sound `prepare` caches beside the video latents (nothing by default: video-only training)."""

    clip: bool = False  # the target's own soundtrack over the training clip's window (diffusion.audio: clip)
    reference: bool = False  # the pair's reference voice (data.reference_audio)
    min_seconds: float = VOICE_MIN_SECONDS  # a shorter reference voice is refused
    max_seconds: float = VOICE_MAX_SECONDS  # only the first seconds of a longer one are used

    def key_parts(self, pair: Pair) -> list[str]:
        """What the cache key adds for the sound (nothing without sound, so older caches keep their keys)."""
        parts = ["clip_audio"] if self.clip else []
        if self.reference and pair.reference_audio is not None:
            parts.append(f"voice={_file_key(pair.reference_audio)}:{self.min_seconds!r}:{self.max_seconds!r}")
        return parts


def check_sound(pipe: Any, pair: Pair, audio: AudioCaching) -> None:
    """Refuse, naming the pair, a clip without sound when its sound is trained, and a missing, unreadable, short or
    silent reference voice (`audio.load_voice`), before anything is encoded."""
    if audio.clip:
        try:
            probe_audio(pair.video)
        except AudioError as err:
            raise PairError(f"{pair.name()}: {err} (the clip's own sound is trained: diffusion.audio is clip)") from err
    if audio.reference:
        if pair.reference_audio is None:
            raise PairError(f"{pair.name()}: no reference voice (the manifest's reference_audio column is empty)")
        try:
            load_voice(pair.reference_audio, pipe.audio_sampling_rate, 1, audio.min_seconds, audio.max_seconds)
        except AudioError as err:
            raise PairError(f"{pair.name()}: reference voice {err}") from err


def frames_to_pixels(pipe: Any, frames: np.ndarray) -> torch.Tensor:
    """uint8 frames (F, H, W, 3) -> VAE input (1, 3, F, H, W) in [-1, 1], through the pipeline's own processor.

    Using `pipe.video_processor` (as `LTX2InContextPipeline` does for references) keeps training and inference
    pixels bit-identical.
    """
    _f, h, w, _ = frames.shape
    video = frames.astype(np.float32) / 255.0
    return pipe.video_processor.preprocess_video(video, h, w, resize_mode="crop")


@torch.no_grad()
def encode_video(pipe: Any, frames: np.ndarray) -> torch.Tensor:
    """VAE-encode frames to raw (un-normalised) latents (C, f, h, w) with the distribution's mode."""
    pixels = frames_to_pixels(pipe, frames).to(device=pipe.vae.device, dtype=pipe.vae.dtype)
    return pipe.vae.encode(pixels).latent_dist.mode()[0].float().cpu()


@torch.no_grad()
def encode_caption(pipe: Any, caption: str, max_sequence_length: int) -> dict[str, torch.Tensor]:
    """Caption -> text embeddings after the connectors, exactly as `LTX2InContextPipeline.__call__` makes them.

    Returns `video_prompt_embeds` (L, D), `audio_prompt_embeds` (L, Da), `prompt_attention_mask` (L,).
    """
    device = ensure_text_encoder(pipe).device
    embeds, mask, _, _ = pipe.encode_prompt(
        prompt=caption,
        do_classifier_free_guidance=False,
        max_sequence_length=max_sequence_length,
        device=device,
    )
    video, audio, conn_mask = pipe.connectors(embeds, mask, padding_side=pipe.tokenizer_padding_side)
    return {
        "video_prompt_embeds": video[0].float().cpu(),
        "audio_prompt_embeds": audio[0].float().cpu(),
        "prompt_attention_mask": conn_mask[0].cpu(),  # int64, as the pipeline passes it
    }


def _file_key(path: Path) -> str:
    stat = path.stat()
    return f"{path}:{stat.st_size}:{int(stat.st_mtime)}"


def cache_key(
    pair: Pair, caption: str, bucket: Bucket, downscale: int, model_name: str, max_sequence_length: int,
    temporal: int = 1, audio: AudioCaching | None = None,
) -> str:
    """Changes whenever anything that shaped the cached tensors changes (files, caption, bucket, model)."""
    parts = [
        _file_key(pair.video),
        _file_key(pair.reference),
        repr(pair.start),
        caption,
        bucket.label(),
        str(downscale),
        model_name,
        str(max_sequence_length),
    ]
    if temporal != 1:  # caches written before the temporal scale factor existed keep their keys
        parts.append(f"temporal={temporal}")
    if audio is not None:
        parts.extend(audio.key_parts(pair))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def prepare(
    pipe: Any,
    pairs: list[Pair],
    buckets: Bucket | Sequence[Bucket],
    cache_dir: str | Path,
    downscale: int = 1,
    trigger: str = "",
    max_sequence_length: int = 1024,
    whole_clips: bool = False,
    temporal: int = 1,
    on_clip: Callable[[int, int], None] | None = None,
    audio: AudioCaching | None = None,
) -> list[PairReport]:
    """Conform, encode and cache every pair in its bucket; reuse cache files whose key still matches.

    All pairs are checked and given their bucket before anything is encoded, so a bad pair fails fast and names
    itself. Each cache file `pair_XXXX.safetensors` holds `target_latents` (C, f, h, w), `reference_latents`
    (C, f, h/d, w/d), `video_prompt_embeds` (L, D), `audio_prompt_embeds` (L, Da), `prompt_attention_mask` (L,),
    with f, h, w those of the pair's bucket. The key includes the bucket: a pair moved to another bucket (a bucket
    added or removed) is encoded again, the others are reused. With `whole_clips`, a pair longer than its bucket
    is cut into windows, each cached as one more training clip (`pair_XXXX_wNN`); reports are per window, and
    `index.json` names the manifest row of each file. `on_clip(i, n)` is called before the i-th of the n training
    clips (1-based) is encoded or found in the cache, so a page can say how far preparation is. With `audio`, the
    files also hold `audio_latents` (Ca, L, Ma), the target's sound over the clip's window (L the pipeline's count
    for the bucket's length), and/or `reference_audio_latents` (Ca, Lr, Ma), the pair's reference voice: raw audio
    VAE latents, normalised at each step as the pipeline normalises them.
    """
    buckets = [buckets] if isinstance(buckets, Bucket) else list(buckets)
    for bucket in buckets:
        bucket.check(downscale, temporal)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    plans = [plan_pair(pair, buckets, downscale, whole_clips) for pair in pairs]
    if audio is not None:
        for pair in pairs:
            check_sound(pipe, pair, audio)
    total = sum(plan.windows for plan in plans)
    reports: list[PairReport] = []
    for pair, plan in zip(pairs, plans, strict=True):
        caption = with_trigger(trigger, pair.caption)
        for window, clip in enumerate(plan.window_pairs(pair)):
            if on_clip is not None:
                on_clip(len(reports) + 1, total)
            report = _cache_pair(pipe, clip, caption, plan.bucket, cache, downscale, max_sequence_length, window,
                                 temporal, audio, plan.probed)
            report.bucket, report.bucket_reason, report.actions = (
                plan.bucket.label(), plan.assignment.reason, plan.actions)
            reports.append(report)
    index = {
        "buckets": [asdict(b) for b in buckets],
        "downscale": downscale,
        "temporal": temporal,
        "files": [Path(r.cache_file).name for r in reports],
        "rows": [r.index for r in reports],
        "pair_buckets": [r.bucket for r in reports],
        **({"audio": asdict(audio)} if audio is not None else {}),
    }
    (cache / "index.json").write_text(json.dumps(index, indent=1))
    return reports


def _cache_pair(
    pipe: Any, pair: Pair, caption: str, bucket: Bucket, cache: Path, downscale: int, max_sequence_length: int,
    window: int = 0,
    temporal: int = 1,
    audio: AudioCaching | None = None,
    probed: tuple[VideoInfo, VideoInfo] | None = None,
) -> PairReport:
    """Encode one pair (or one window of it) at `bucket` into `cache`, or return the report of the cache file that
    still matches."""
    key = cache_key(pair, caption, bucket, downscale, encoding_name(pipe), max_sequence_length, temporal, audio)
    out = cache / (f"pair_{pair.index:04d}.safetensors" if window == 0 else
                   f"pair_{pair.index:04d}_w{window:02d}.safetensors")
    report_file = out.with_suffix(".json")
    if out.exists() and report_file.exists():
        old = json.loads(report_file.read_text())
        if old.get("key") == key:
            return PairReport(**{**old["report"], "cached": True})
    target_frames, ref_frames, report = conform_pair(pair, bucket, downscale, temporal, probed)
    tensors = {
        "target_latents": encode_video(pipe, target_frames),
        "reference_latents": encode_video(pipe, ref_frames),
        **encode_caption(pipe, caption, max_sequence_length),
    }
    if audio is not None:
        try:
            if audio.clip:
                tensors["audio_latents"] = encode_clip_audio(pipe, pair.video, pair.start, bucket.frames / bucket.fps)
            if audio.reference and pair.reference_audio is not None:
                tensors["reference_audio_latents"] = encode_voice(pipe, pair.reference_audio, audio.min_seconds,
                                                                  audio.max_seconds)
        except AudioError as err:
            raise PairError(f"{pair.name()}: {err}") from err
    # fps in full (repr): the label rounds it, and the positions the step builds need the exact rate.
    meta = {"caption": caption, "bucket": bucket.label(), "fps": repr(bucket.fps), "downscale": str(downscale),
            "key": key}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out), metadata=meta)
    report.cache_file = str(out)
    report_file.write_text(json.dumps({"key": key, "report": report.as_dict()}, indent=1))
    return report


@dataclass(eq=False)  # tensors inside: compare pairs by identity
class CachedPair:
    """Tensors of one cached pair (see `prepare` for shapes), its caption and the bucket it was conformed to."""

    target_latents: torch.Tensor
    reference_latents: torch.Tensor
    video_prompt_embeds: torch.Tensor
    audio_prompt_embeds: torch.Tensor
    prompt_attention_mask: torch.Tensor
    caption: str
    bucket: Bucket
    row: int = -1  # the manifest row it came from: the windows of one long clip share it (-1: not known)
    audio_latents: torch.Tensor | None = None  # (Ca, L, Ma) the target's own sound (diffusion.audio: clip)
    reference_audio_latents: torch.Tensor | None = None  # (Ca, Lr, Ma) the reference voice (data.reference_audio)


def load_cached_pair(path: str | Path, row: int = -1) -> CachedPair:
    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    bucket = Bucket.from_label(meta["bucket"])
    if "fps" in meta:  # caches written before several buckets existed have the label only
        bucket = replace(bucket, fps=float(meta["fps"]))
    return CachedPair(caption=meta.get("caption", ""), bucket=bucket, row=row, **tensors)


def load_cache(cache_dir: str | Path, rows: list[int] | None = None) -> list[CachedPair]:
    """Load what the last `prepare` cached into memory: all of it, or the training clips of the given manifest
    rows (every window of a long pair)."""
    index_file = Path(cache_dir) / "index.json"
    if not index_file.exists():
        raise FileNotFoundError(f"no cached pairs in {cache_dir}: run prepare first")
    index = json.loads(index_file.read_text())
    names = index["files"]
    of_row = index.get("rows", list(range(len(names))))  # caches from before windows: one file per row
    wanted = set(rows) if rows is not None else None
    return [load_cached_pair(Path(cache_dir) / name, row) for name, row in zip(names, of_row, strict=True)
            if wanted is None or row in wanted]
