"""Training configuration: one Pydantic model, loaded from YAML, unknown keys rejected.

Defaults are those of the design note (ltx-trainer's IC-LoRA recipe): rank 32, alpha = rank, lr 2e-4, AdamW,
linear decay to 0.1x, grad clip 1.0, batch 1, gradient checkpointing, checkpoint every 250 steps keeping 3.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .buckets import Bucket
from .model_paths import ModelPaths

# ltx-trainer's IC-LoRA set, video stream only (10 modules per block; audio and cross-modal modules untouched).
LORA_TARGETS = (
    "attn1.to_q",
    "attn1.to_k",
    "attn1.to_v",
    "attn1.to_out.0",
    "attn2.to_q",
    "attn2.to_k",
    "attn2.to_v",
    "attn2.to_out.0",
    "ff.net.0.proj",
    "ff.net.2",
)
# What an adapter that hears a reference voice also trains (ltx-trainer's audio-video IC-LoRA trains every branch):
# the audio stream's attention and feed-forward and both cross-modal attentions, so the voice reaches the clip's sound
# and its lips.
AUDIO_LORA_TARGETS = (
    *(f"{attn}.{proj}" for attn in ("audio_attn1", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn")
      for proj in ("to_q", "to_k", "to_v", "to_out.0")),
    "audio_ff.net.0.proj",
    "audio_ff.net.2",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class BucketConfig(_Strict):
    width: int = Field(default=768, description="Target width in pixels; a multiple of 32 (and of 32 x downscale).")
    height: int = Field(default=448, description="Target height in pixels; a multiple of 32 (and of 32 x downscale).")
    frames: int = Field(
        default=121, description="Frames per clip, 8n+1 (1, 9, 17, ..., 121); clips keep their first frames."
    )
    fps: float = Field(default=24.0, gt=0, description="Frame rate clips are resampled to before cropping frames.")

    @model_validator(mode="after")
    def _shape_rules(self) -> BucketConfig:
        self.to_bucket().check(1)
        return self

    def to_bucket(self) -> Bucket:
        return Bucket(self.width, self.height, self.frames, self.fps)


class DataConfig(_Strict):
    manifest: Path = Field(description="CSV/JSON/JSONL pair list with caption, video, reference_video columns.")
    cache_dir: Path | None = Field(
        default=None, description="Where latents and text embeddings are cached; default <output_dir>/cache."
    )
    reference_downscale_factor: int = Field(
        default=1, ge=1, le=4, description="Reference is W/d x H/d; positions are scaled by d so both share one grid."
    )
    reference_temporal_scale_factor: int = Field(
        default=1, ge=1, le=8,
        description="Reference at fps / S: it keeps every S-th frame over the same time and its time positions are "
        "spread by S (ltx-trainer's --reference-temporal-scale-factor). Bucket frames must then be 8*S*n+1.",
    )
    trigger: str = Field(
        default="", description="Phrase prepended to every caption and stored in the adapter metadata."
    )
    max_sequence_length: int = Field(
        default=1024, ge=8, le=1024, description="Text tokens per caption (the pipeline's default is 1024)."
    )
    whole_clips: bool = Field(
        default=False,
        description="Use all of each clip: one longer than its bucket is cut into back-to-back training clips of "
        "the bucket's length, each a sample of its own. Off: only its first frames are used.",
    )
    validation_indices: list[int] = Field(
        default_factory=list,
        description="Manifest rows (0-based) held out of training and used for eval loss and validation samples.",
    )
    reference_audio: bool = Field(
        default=False,
        description="Every pair has a reference voice (manifest column reference_audio, 5-15 s of the person "
        "speaking): its audio latents join the audio stream as clean tokens (timestep 0, no loss) and the adapter "
        "records that it expects reference audio. Needs diffusion.audio: clip.",
    )
    reference_audio_placement: Literal["before", "overlap"] = Field(
        default="before",
        description="Time positions of the reference voice's tokens: before (it ends 0.04 s before the clip, "
        "ltx-core's Dub-It / ID-LoRA placement) or overlap (from 0 like the clip's own sound, ltx-trainer's flexible "
        "strategy).",
    )
    reference_audio_min_seconds: float = Field(
        default=5.0, ge=0.5, le=60, description="A reference voice shorter than this is refused with a plain message."
    )
    reference_audio_max_seconds: float = Field(
        default=15.0, ge=1, le=60, description="Only this many seconds of a longer reference voice are used."
    )


class LoraConfig(_Strict):
    rank: int = Field(default=32, ge=1, le=512, description="LoRA rank: 16-64 for control, 128 for identity.")
    alpha: float | None = Field(default=None, gt=0, description="LoRA alpha; None means alpha = rank (scale 1).")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="Dropout on the LoRA branch.")
    targets: list[str] = Field(
        default_factory=lambda: list(LORA_TARGETS),
        description="Module names inside each transformer block that get an adapter (video stream only).",
    )

    @property
    def effective_alpha(self) -> float:
        return float(self.alpha if self.alpha is not None else self.rank)


class OptimConfig(_Strict):
    steps: int = Field(
        default=2000, ge=1, description="Optimizer steps in total (2000-3000 is typical on the real model)."
    )
    learning_rate: float = Field(default=2e-4, gt=0, description="AdamW peak learning rate (1e-4 for identity LoRAs).")
    final_lr_fraction: float = Field(
        default=0.1, ge=0, le=1, description="Linear decay ends at this fraction of the lr."
    )
    warmup_steps: int = Field(default=0, ge=0, description="Linear warm-up steps before the decay.")
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay on the LoRA weights.")
    betas: tuple[float, float] = Field(default=(0.9, 0.999), description="AdamW betas.")
    grad_clip: float = Field(default=1.0, gt=0, description="Clip the gradient norm to this value every step.")
    batch_size: int = Field(
        default=1, ge=1, description="Pairs per optimizer step; they all come from one bucket, so their tensors stack."
    )


class DiffusionConfig(_Strict):
    uniform_sigma_fraction: float = Field(
        default=0.1, ge=0, le=1, description="Share of steps whose sigma is drawn uniformly instead of logit-normal."
    )
    first_frame_conditioning_p: float = Field(
        default=0.1, ge=0, le=1, description="Probability the first latent frame stays clean (image-to-video skill)."
    )
    audio: Literal["isolated", "silence", "clip"] = Field(
        default="isolated",
        description="isolated: one zero audio token cut off from the video (ltx-trainer's video-only regime). "
        "silence: the audio stream of the clip's length is denoised alongside from silent latents with the "
        "modalities joined, as LTX2InContextPipeline generates (the demo model was pretrained so). "
        "clip: the same, from the target clip's own sound (audio VAE latents, cached), which is in the loss with "
        "audio_weight: the adapter learns the sound too (speech in sync, a voice).",
    )
    audio_weight: float = Field(
        default=1.0, ge=0, le=100,
        description="Weight of the audio stream's error in the loss beside the video's (silence and clip regimes).",
    )


class CheckpointConfig(_Strict):
    every: int = Field(default=250, ge=1, description="Save adapter + optimizer + scheduler + RNG every N steps.")
    keep: int = Field(default=3, ge=1, description="Keep only the newest K checkpoints.")
    resume: bool = Field(default=True, description="Resume from the newest checkpoint in output_dir when there is one.")
    extend: bool = Field(
        default=False,
        description="The run continues a shorter one on purpose (the Studio's Continue training): a checkpoint made "
        "with a smaller optim.steps resumes and trains on to this total, the schedule stretched to it. Every other "
        "setting must still match.",
    )


class ValidationConfig(_Strict):
    every: int = Field(default=250, ge=0, description="Write validation samples every N steps (0: only when asked).")
    prompts: list[str] = Field(default_factory=list, description="Prompts for validation samples.")
    reference_videos: list[Path] = Field(
        default_factory=list, description="Reference videos for validation samples, one per prompt."
    )
    reference_audios: list[Path] = Field(
        default_factory=list,
        description="Reference voices for validation samples, one per prompt, for an adapter trained with "
        "data.reference_audio and its own reference_videos (without reference_videos the held-out pairs' voices "
        "are used).",
    )
    num_inference_steps: int = Field(default=20, ge=1, description="Denoising steps per validation sample.")
    guidance_scale: float = Field(
        default=1.0, ge=1, description="CFG scale for samples (1 = off, one transformer call)."
    )
    seed: int = Field(default=0, description="Seed of validation sample noise, fixed so samples are comparable.")


class ExportConfig(_Strict):
    name: str = Field(default="adapter", description="File name (without .safetensors) of the exported adapter.")
    recipe: str = Field(default="custom", description="Recipe / conditioning type, e.g. depth, canny, pose, restore.")


class TrainConfig(_Strict):
    model: str | ModelPaths = Field(
        default="tiny",
        description="The base model: a preset (tiny, demo, or ltx-2.3 = the operator's LTX_MODEL_PATH and "
        "LTX_TEXT_ENCODER_PATH), a diffusers LTX-2 folder, or a mapping of files: {path: folder or single-file "
        ".safetensors (or the transformer file of Lightricks' split LTX-2.5 download), text_encoder: Gemma folder, "
        "video_vae, audio_vae, text_projection: the split download's other files, config: component configs, "
        "distilled, name}.",
    )
    output_dir: Path = Field(description="Run folder: cache, checkpoints, samples, exported adapter, log.")
    device: str = Field(
        default="auto", description="auto (CUDA if present), cuda, cuda:N or cpu. bf16 on CUDA, fp32 on CPU."
    )
    seed: int = Field(default=0, description="Seed of every random draw in training (pairs, sigmas, noise).")
    quantize: Literal["none", "int8"] = Field(
        default="none",
        description="int8 weight quantization (optimum-quanto) of the frozen transformer and of the text encoder "
        "while it encodes captions: about 18 GB less (24-32 GB cards also need smaller shapes).",
    )
    gradient_checkpointing: bool | Literal["auto"] = Field(
        default="auto",
        description="Recompute activations in backward to save memory. auto: on a GPU, where memory is what limits a "
        "run; off on the CPU, where the small models fit easily and recomputing made steps about 1.5x slower.",
    )
    bucket: BucketConfig = Field(
        default_factory=lambda: BucketConfig(),
        description="The shape clips are conformed to; with extra_buckets, the first bucket (validation samples "
        "whose reference fits no bucket are made at it).",
    )
    extra_buckets: list[BucketConfig] = Field(
        default_factory=list,
        description="More buckets, e.g. a portrait one beside a landscape `bucket`. Each pair trains in the bucket "
        "closest to its target's aspect ratio among those it is long enough for (ties: more pixels); a batch "
        "never mixes buckets.",
    )
    data: DataConfig = Field(description="Pairs and their preprocessing.")
    lora: LoraConfig = Field(default_factory=lambda: LoraConfig(), description="Adapter shape.")
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig(), description="Optimizer and schedule.")
    diffusion: DiffusionConfig = Field(default_factory=lambda: DiffusionConfig(), description="Noise sampling details.")
    checkpoint: CheckpointConfig = Field(default_factory=lambda: CheckpointConfig(), description="Checkpointing.")
    validation: ValidationConfig = Field(default_factory=lambda: ValidationConfig(), description="Validation samples.")
    export: ExportConfig = Field(
        default_factory=lambda: ExportConfig(), description="Adapter file naming and metadata."
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value not in ("auto", "cpu", "cuda") and not value.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {value!r}")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> TrainConfig:
        for bucket in self.buckets:
            bucket.check(self.data.reference_downscale_factor, self.data.reference_temporal_scale_factor)
        labels = [b.label() for b in self.buckets]
        if len(set(labels)) != len(labels):
            raise ValueError(f"buckets {labels} list the same bucket twice")
        if self.data.reference_audio:
            if self.diffusion.audio != "clip":
                raise ValueError("data.reference_audio needs diffusion.audio: clip (the clip's own sound is what the "
                                 "reference voice teaches)")
            if self.data.reference_audio_min_seconds > self.data.reference_audio_max_seconds:
                raise ValueError("data.reference_audio_min_seconds is above reference_audio_max_seconds")
            if "targets" not in self.lora.model_fields_set:
                self.lora.targets = [*LORA_TARGETS, *AUDIO_LORA_TARGETS]
        v = self.validation
        if v.reference_videos and len(v.reference_videos) != len(v.prompts):
            raise ValueError(f"validation has {len(v.prompts)} prompts but {len(v.reference_videos)} reference videos")
        if v.reference_audios and not self.data.reference_audio:
            raise ValueError("validation.reference_audios are given but data.reference_audio is off: only an adapter "
                             "trained with a reference voice uses one")
        if self.data.reference_audio and v.reference_videos and len(v.reference_audios) != len(v.reference_videos):
            raise ValueError(f"validation has {len(v.reference_videos)} reference videos but "
                             f"{len(v.reference_audios)} reference_audios: an adapter trained with a reference voice "
                             "needs a voice for each sample")
        return self

    @property
    def buckets(self) -> list[Bucket]:
        """Every bucket, `bucket` first."""
        return [b.to_bucket() for b in (self.bucket, *self.extra_buckets)]

    @property
    def cache_dir(self) -> Path:
        return self.data.cache_dir or self.output_dir / "cache"

    def resume_settings(self) -> dict[str, Any]:
        """The settings a checkpoint may only be resumed with, flattened ("optim.learning_rate": 1e-4, ...).

        What shapes the training is in (schedule, data settings, buckets, LoRA, diffusion, seed); what belongs to the
        machine is not (paths, device, the worker's int8 choice, recomputing activations), so a run still resumes on
        another worker.
        """
        data = self.model_dump(mode="json", exclude={"output_dir", "checkpoint", "validation", "device", "model",
                                                     "quantize", "gradient_checkpointing", "export"})
        data["data"].pop("cache_dir", None)
        data["data"].pop("manifest", None)
        return flatten(data)

    def config_hash(self) -> str:
        """Short hash of everything that shapes the result (paths and schedule of saving excluded)."""
        data = self.model_dump(mode="json", exclude={"output_dir", "checkpoint", "validation", "device"})
        data["data"].pop("cache_dir", None)
        if not data["extra_buckets"]:  # single-bucket configs keep the hash they had before extra_buckets existed
            del data["extra_buckets"]
        if not data["data"]["whole_clips"]:  # likewise for configs from before whole_clips
            del data["data"]["whole_clips"]
        if data["data"]["reference_temporal_scale_factor"] == 1:  # likewise for configs from before it existed
            del data["data"]["reference_temporal_scale_factor"]
        if data["diffusion"]["audio"] == "isolated":  # likewise for configs from before the audio regimes
            del data["diffusion"]["audio"]
        if data["diffusion"]["audio_weight"] == 1.0:  # likewise for configs from before the audio weight
            del data["diffusion"]["audio_weight"]
        if not data["data"]["reference_audio"]:  # likewise for configs from before reference audio
            for key in ("reference_audio", "reference_audio_placement", "reference_audio_min_seconds",
                        "reference_audio_max_seconds"):
                del data["data"][key]
        if data["gradient_checkpointing"] == "auto":
            # Recomputing activations gives the same numbers; "auto" hashes as the old default (True) so runs
            # saved before it existed still resume.
            data["gradient_checkpointing"] = True
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optim": {"steps": 8}} -> {"optim.steps": 8}: settings named as a creator or a YAML file names them."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_config(path: str | Path, **overrides: object) -> TrainConfig:
    """Read a YAML config; relative paths in it are relative to the YAML file's folder."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path.name}: the top level must be a mapping of keys")
    raw.update(overrides)
    cfg = TrainConfig.model_validate(raw)
    base = path.parent.resolve()

    def rel(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    cfg.output_dir = rel(cfg.output_dir)
    cfg.data.manifest = rel(cfg.data.manifest)
    if cfg.data.cache_dir is not None:
        cfg.data.cache_dir = rel(cfg.data.cache_dir)
    cfg.validation.reference_videos = [rel(p) for p in cfg.validation.reference_videos]
    cfg.model = _model_relative_to(cfg.model, base)
    return cfg


def _model_relative_to(model: str | ModelPaths, base: Path) -> str | ModelPaths:
    """Paths in `model:` are relative to the YAML file's folder (a bare preset name stays a name)."""
    if isinstance(model, ModelPaths):
        update = {key: base / value for key in ("path", "text_encoder", "config", "video_vae", "audio_vae",
                                                              "text_projection")
                  if isinstance(value := getattr(model, key), Path) and not value.is_absolute()}
        return model.model_copy(update=update)
    if Path(model).parts and not Path(model).is_absolute() and (base / model).exists():
        return str(base / model)
    return model
