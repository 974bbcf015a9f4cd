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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .media import MediaError, VideoInfo, conform, probe

# Lightricks' manifest columns, then the older names their trainer still accepts.
CAPTION_KEYS = ("caption",)
VIDEO_KEYS = ("video", "media_path")
REFERENCE_KEYS = ("reference_video", "ref_media_path")
FPS_TOLERANCE = 0.01  # 29.97 vs 30000/1001 must compare equal
ASPECT_TOLERANCE = 0.02


class PairError(ValueError):
    """A pair that cannot be used, with its number, files and the reason."""


@dataclass(frozen=True)
class Bucket:
    """The shape every target clip is conformed to; the reference gets `width/d x height/d`."""

    width: int
    height: int
    frames: int
    fps: float

    def check(self, downscale: int = 1) -> None:
        step = 32 * downscale
        if self.width % step or self.height % step:
            raise ValueError(
                f"bucket {self.width}x{self.height} must be a multiple of {step} (32 x downscale {downscale})"
            )
        if self.frames < 1 or (self.frames - 1) % 8:
            raise ValueError(f"bucket frames {self.frames} must be 8n+1 (1, 9, 17, ..., 121)")
        if self.fps <= 0:
            raise ValueError(f"bucket fps must be positive, got {self.fps}")

    def label(self) -> str:
        return f"{self.width}x{self.height}x{self.frames}@{self.fps:g}"


@dataclass(frozen=True)
class Pair:
    """One manifest row: caption, target video, reference video (absolute paths)."""

    index: int
    caption: str
    video: Path
    reference: Path

    def name(self) -> str:
        return f"pair {self.index + 1} ({self.video.name} <- {self.reference.name})"


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
            missing = "video" if video is None else "reference_video"
            raise PairError(f"pair {i + 1} in {path.name}: no {missing!r} column (have {sorted(row)})")
        pairs.append(
            Pair(
                index=i,
                caption=(_pick(row, CAPTION_KEYS) or "").strip(),
                video=(path.parent / video).resolve(),
                reference=(path.parent / reference).resolve(),
            )
        )
    if not pairs:
        raise ValueError(f"manifest {path.name} lists no pairs")
    return pairs


def write_manifest(pairs: list[Pair], path: str | Path) -> Path:
    """Write pairs as a Lightricks-style JSONL manifest (`caption`, `video`, `reference_video`)."""
    path = Path(path)
    lines = [
        json.dumps({"caption": p.caption, "video": str(p.video), "reference_video": str(p.reference)}) for p in pairs
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check_pair(pair: Pair, bucket: Bucket, downscale: int) -> tuple[VideoInfo, VideoInfo, list[str]]:
    """Probe both videos and apply the pair rules; return their info and the planned actions.

    Rules (design note section 1): same fps, same frame count, same aspect ratio (the reference may be smaller
    by the downscale factor), long enough for the bucket once resampled. A one-frame reference (a still image
    of the subject, as identity adapters use) needs only the same aspect ratio.
    """
    try:
        target = probe(pair.video)
        ref = probe(pair.reference)
    except MediaError as err:
        raise PairError(f"{pair.name()}: {err}") from err
    still = ref.frames == 1
    if not still and abs(target.fps - ref.fps) > FPS_TOLERANCE:
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
    available = int(target.frames * bucket.fps / target.fps + 1e-6)
    if available < bucket.frames:
        raise PairError(
            f"{pair.name()}: too short, {target.duration:.2f} s gives {available} frames at {bucket.fps:g} fps, "
            f"the bucket needs {bucket.frames} ({bucket.frames / bucket.fps:.2f} s)"
        )
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
    if available > bucket.frames:
        actions.append(f"keep the first {bucket.frames} of {available} frames")
    if still:
        actions.append("reference is a still image (one frame)")
    return target, ref, actions


def conform_pair(pair: Pair, bucket: Bucket, downscale: int) -> tuple[np.ndarray, np.ndarray, PairReport]:
    """Check and decode one pair. Returns target frames (F, H, W, 3), reference (F, H/d, W/d, 3), report."""
    target, ref, actions = check_pair(pair, bucket, downscale)
    try:
        target_frames = conform(pair.video, bucket.fps, bucket.width, bucket.height, bucket.frames)
        ref_frames = conform(
            pair.reference, bucket.fps, bucket.width // downscale, bucket.height // downscale,
            1 if ref.frames == 1 else bucket.frames,
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
    )
    return target_frames, ref_frames, report


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
    device = pipe.text_encoder.device
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
    pair: Pair, caption: str, bucket: Bucket, downscale: int, model_name: str, max_sequence_length: int
) -> str:
    """Changes whenever anything that shaped the cached tensors changes (files, caption, bucket, model)."""
    parts = [
        _file_key(pair.video),
        _file_key(pair.reference),
        caption,
        bucket.label(),
        str(downscale),
        model_name,
        str(max_sequence_length),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def prepare(
    pipe: Any,
    pairs: list[Pair],
    bucket: Bucket,
    cache_dir: str | Path,
    downscale: int = 1,
    trigger: str = "",
    max_sequence_length: int = 1024,
) -> list[PairReport]:
    """Conform, encode and cache every pair; reuse cache files whose key still matches.

    All pairs are checked before anything is encoded, so a bad pair fails fast and names itself.
    Each cache file `pair_XXXX.safetensors` holds `target_latents` (C, f, h, w), `reference_latents`
    (C, f, h/d, w/d), `video_prompt_embeds` (L, D), `audio_prompt_embeds` (L, Da), `prompt_attention_mask` (L,).
    """
    bucket.check(downscale)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    model_name = getattr(pipe, "iclora_model_name", "custom")
    for pair in pairs:
        check_pair(pair, bucket, downscale)
    reports = []
    for pair in pairs:
        caption = f"{trigger} {pair.caption}".strip() if trigger else pair.caption
        key = cache_key(pair, caption, bucket, downscale, model_name, max_sequence_length)
        out = cache / f"pair_{pair.index:04d}.safetensors"
        report_file = out.with_suffix(".json")
        if out.exists() and report_file.exists():
            old = json.loads(report_file.read_text())
            if old.get("key") == key:
                report = PairReport(**old["report"])
                report.cached = True
                reports.append(report)
                continue
        target_frames, ref_frames, report = conform_pair(pair, bucket, downscale)
        tensors = {
            "target_latents": encode_video(pipe, target_frames),
            "reference_latents": encode_video(pipe, ref_frames),
            **encode_caption(pipe, caption, max_sequence_length),
        }
        meta = {"caption": caption, "bucket": bucket.label(), "downscale": str(downscale), "key": key}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(out), metadata=meta)
        report.cache_file = str(out)
        report_file.write_text(json.dumps({"key": key, "report": report.as_dict()}, indent=1))
        reports.append(report)
    index = {"bucket": asdict(bucket), "downscale": downscale, "files": [Path(r.cache_file).name for r in reports]}
    (cache / "index.json").write_text(json.dumps(index, indent=1))
    return reports


@dataclass
class CachedPair:
    """Tensors of one cached pair (see `prepare` for shapes) and its caption."""

    target_latents: torch.Tensor
    reference_latents: torch.Tensor
    video_prompt_embeds: torch.Tensor
    audio_prompt_embeds: torch.Tensor
    prompt_attention_mask: torch.Tensor
    caption: str


def load_cached_pair(path: str | Path) -> CachedPair:
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    return CachedPair(caption=meta.get("caption", ""), **tensors)


def load_cache(cache_dir: str | Path, indices: list[int] | None = None) -> list[CachedPair]:
    """Load the pairs the last `prepare` cached (all, or those at the given positions) into memory."""
    index_file = Path(cache_dir) / "index.json"
    if not index_file.exists():
        raise FileNotFoundError(f"no cached pairs in {cache_dir}: run prepare first")
    files = [Path(cache_dir) / name for name in json.loads(index_file.read_text())["files"]]
    if indices is not None:
        files = [files[i] for i in indices]
    return [load_cached_pair(f) for f in files]
