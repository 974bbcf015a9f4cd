"""The adapter file: write it in ComfyUI / ltx-trainer form, and read + validate any IC-LoRA file.

Format (design note section 3): `.safetensors`, bf16, keys
`diffusion_model.transformer_blocks.{i}.attn1.to_q.lora_A.weight` (r, in) / `.lora_B.weight` (out, r), no
`.alpha` tensors (inference applies B@A unscaled, so alpha/rank is baked into lora_B), and string metadata
with `reference_downscale_factor` always present, and `base` (ltx-2.3 or ltx-2.5, `engine.bases`): the two bases'
transformers have the same modules and shapes, so only this says which one an adapter was trained for. An adapter
trained with a reference voice records `reference_audio: "true"` and `reference_audio_placement` (before / overlap):
it expects a voice at inference (`engine.inference.generate(reference_audio=...)`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bases import base_of_switches
from .buckets import labels
from .lora import lora_state_dict
from .model_paths import model_label

if TYPE_CHECKING:
    import torch

PREFIX = "diffusion_model."
FORMAT = "iclora-studio/1"
SAFETENSORS_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64"}
KEY_RE = re.compile(r"^diffusion_model\.transformer_blocks\.(\d+)\.(.+)\.lora_([AB])\.weight$")


class AdapterError(ValueError):
    """An adapter file that cannot be used, with the reason."""


def comfy_state_dict(transformer: Any, alpha: float, rank: int) -> dict[str, torch.Tensor]:
    """peft adapter weights -> ComfyUI/ltx-trainer keys in bf16, with alpha/rank folded into lora_B."""
    # torch: on the worker only; the web process imports this module to read adapter headers
    import torch

    scale = alpha / rank
    out = {}
    for key, value in lora_state_dict(transformer).items():
        value = value.float()
        if ".lora_B." in key and scale != 1.0:
            value = value * scale
        out[PREFIX + key] = value.to(torch.bfloat16).contiguous().cpu()
    return out


def export_adapter(transformer: Any, path: str | Path, cfg: Any, steps: int) -> Path:
    """Write the trained adapter of `transformer` with the metadata a user (and ComfyUI) needs later."""
    # safetensors.torch loads torch: on the worker only; the web process imports this module
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = comfy_state_dict(transformer, cfg.lora.effective_alpha, cfg.lora.rank)
    d = str(cfg.data.reference_downscale_factor)
    metadata = {
        "format": FORMAT,
        "reference_downscale_factor": d,
        "ss_reference_downscale_factor": d,  # the name kohya-style tools write
        # ltx-trainer's name: the reference at fps / S (every S-th frame); the Studio conditions the same way.
        "reference_temporal_scale_factor": str(cfg.data.reference_temporal_scale_factor),
        "base_model": model_label(cfg.model),
        # The architecture, read from the transformer trained (not from a name): base_model may be a folder's name.
        "base": base_of_switches(transformer.config).name,
        "rank": str(cfg.lora.rank),
        "alpha": str(cfg.lora.effective_alpha),
        "alpha_baked_into_lora_B": str(cfg.lora.effective_alpha != cfg.lora.rank).lower(),
        "recipe": cfg.export.recipe,
        "trigger": cfg.data.trigger,
        "bucket": labels(cfg.buckets),  # several: comma-separated, the first is the config's `bucket`
        "steps": str(steps),
        "config_hash": cfg.config_hash(),
        "targets": ",".join(cfg.lora.targets),
    }
    if cfg.diffusion.audio != "isolated":  # adapters from the video-only regime keep the metadata they always had
        metadata["audio"] = cfg.diffusion.audio
    if cfg.data.reference_audio:
        metadata["reference_audio"] = "true"
        metadata["reference_audio_placement"] = cfg.data.reference_audio_placement
    save_file(tensors, str(path), metadata=metadata)
    return path


@dataclass
class AdapterInfo:
    """What `read_adapter` found in a valid adapter file."""

    path: Path
    rank: int
    blocks: list[int]
    modules: list[str]
    dtype: str
    num_parameters: int
    reference_downscale_factor: int
    metadata: dict[str, str]
    notes: list[str] = field(default_factory=list)
    reference_temporal_scale_factor: int = 1
    base: str | None = None  # ltx-2.3 or ltx-2.5; None for adapters from before bases were recorded, and others'

    @property
    def trigger(self) -> str:
        return self.metadata.get("trigger", "")

    @property
    def reference_audio(self) -> bool:
        """The adapter was trained with a reference voice and expects one at inference."""
        return self.metadata.get("reference_audio", "false").lower() == "true"

    @property
    def reference_audio_placement(self) -> str:
        """Where its reference voice sits in time: "before" the clip (default) or "overlap"."""
        return self.metadata.get("reference_audio_placement", "before")


def read_adapter(path: str | Path, transformer: Any | None = None) -> AdapterInfo:
    """Open and check an IC-LoRA adapter file; with `transformer`, also check every shape against it.

    Raises `AdapterError` for anything `LTX2InContextPipeline.load_lora_weights` would choke on or silently
    ignore (not safetensors, kohya `lora_down`/`alpha` keys, keys without the `diffusion_model.` prefix,
    unpaired A/B, inconsistent rank, unknown modules, wrong shapes), and an adapter whose recorded `base` is not the
    transformer's (an LTX-2.3 adapter fits an LTX-2.5 transformer's shapes exactly). Reading the header needs no
    torch (the web process checks uploads with it); only the tensors' shapes and dtypes are read, never their data.
    """
    # safetensors: loaded on first use only; the web process imports this module
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise AdapterError(f"{path}: file not found")
    try:
        with safe_open(str(path), "numpy") as f:
            keys = list(f.keys())
            metadata = dict(f.metadata() or {})
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in keys}
            dtypes = {
                SAFETENSORS_DTYPES.get(str(f.get_slice(k).get_dtype()), str(f.get_slice(k).get_dtype())) for k in keys
            }
    except Exception as err:  # safetensors raises its own error types for bad headers
        raise AdapterError(f"{path.name}: not a safetensors file ({err})") from err
    if not keys:
        raise AdapterError(f"{path.name}: contains no tensors")
    bad = [k for k in keys if "lora_down" in k or "lora_up" in k or k.endswith(".alpha")]
    if bad:
        raise AdapterError(f"{path.name}: kohya-style keys ({bad[0]}); diffusers needs lora_A/lora_B without alpha")
    unprefixed = [k for k in keys if not k.startswith(PREFIX) and not k.startswith("transformer.")]
    if unprefixed:
        raise AdapterError(f"{path.name}: key {unprefixed[0]} lacks the diffusion_model. prefix (it would be ignored)")

    pairs: dict[tuple[int, str], dict[str, tuple[int, ...]]] = {}
    for key in keys:
        m = KEY_RE.match(key.replace("transformer.", PREFIX, 1) if key.startswith("transformer.") else key)
        if m is None:
            raise AdapterError(f"{path.name}: unexpected key {key}")
        pairs.setdefault((int(m.group(1)), m.group(2)), {})[m.group(3)] = shapes[key]
    ranks = set()
    for (block, module), ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise AdapterError(f"{path.name}: block {block} {module} has lora_{next(iter(ab))} without its pair")
        a, b = ab["A"], ab["B"]
        if len(a) != 2 or len(b) != 2 or a[0] != b[1]:
            raise AdapterError(f"{path.name}: block {block} {module} has mismatched A {a} and B {b}")
        ranks.add(a[0])
    if len(ranks) != 1:
        raise AdapterError(f"{path.name}: mixed ranks {sorted(ranks)}")

    notes = []
    raw_d = metadata.get("reference_downscale_factor", metadata.get("ss_reference_downscale_factor"))
    if raw_d is None:
        notes.append("no reference_downscale_factor in metadata; assuming 1")
        raw_d = "1"
    try:
        downscale = int(float(raw_d))
    except ValueError as err:
        raise AdapterError(f"{path.name}: reference_downscale_factor {raw_d!r} is not a number") from err
    if downscale < 1:
        raise AdapterError(f"{path.name}: reference_downscale_factor {downscale} must be >= 1")
    raw_s = metadata.get("reference_temporal_scale_factor", "1")  # absent: a reference at the target's frame rate
    try:
        temporal = int(float(raw_s))
    except ValueError as err:
        raise AdapterError(f"{path.name}: reference_temporal_scale_factor {raw_s!r} is not a number") from err
    if not 1 <= temporal <= 8:
        raise AdapterError(f"{path.name}: reference_temporal_scale_factor {temporal} must be between 1 and 8")

    base = metadata.get("base")
    if transformer is not None:
        _check_against(path.name, pairs, transformer)
        _check_base(path.name, base, transformer)
    return AdapterInfo(
        path=path,
        rank=ranks.pop(),
        blocks=sorted({b for b, _ in pairs}),
        modules=sorted({m for _, m in pairs}),
        dtype=",".join(sorted(dtypes)),
        num_parameters=sum(math_prod(s) for s in shapes.values()),
        reference_downscale_factor=downscale,
        metadata=metadata,
        notes=notes,
        reference_temporal_scale_factor=temporal,
        base=base,
    )


def math_prod(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _check_against(name: str, pairs: dict[tuple[int, str], dict[str, tuple[int, ...]]], transformer: Any) -> None:
    # torch: on the worker only; the web process imports this module to read adapter headers
    import torch

    modules = dict(transformer.named_modules())
    for (block, module), ab in sorted(pairs.items()):
        target = modules.get(f"transformer_blocks.{block}.{module}")
        target = getattr(target, "base_layer", target)  # an adapter may already be attached
        if not isinstance(target, torch.nn.Linear):
            raise AdapterError(f"{name}: block {block} {module} does not exist in this base model")
        if ab["A"][1] != target.in_features or ab["B"][0] != target.out_features:
            raise AdapterError(
                f"{name}: block {block} {module} is {ab['B'][0]}x{ab['A'][1]} but the base model has "
                f"{target.out_features}x{target.in_features} (adapter made for another model?)"
            )


def _check_base(name: str, base: str | None, transformer: Any) -> None:
    if base is None:
        return  # not recorded: the shapes are all there is to check
    model = base_of_switches(transformer.config)
    if base != model.name:
        raise AdapterError(f"{name}: trained for {base}, but this base model is {model.name} (the shapes fit, the "
                           "weights were learnt for another model)")


def metadata_json(info: AdapterInfo) -> str:
    return json.dumps({"rank": info.rank, "blocks": len(info.blocks), **info.metadata}, indent=1)
