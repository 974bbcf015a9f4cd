"""Lightricks' single-file LTX checkpoints (e.g. `ltx-2.3-22b-dev.safetensors`) loaded into diffusers' classes.

One such file holds every weight but the text encoder's, under Lightricks' own names:

| component (diffusers) | keys in the file |
|---|---|
| `transformer` | `model.diffusion_model.*` |
| `connectors` | `model.diffusion_model.{video,audio}_embeddings_connector.*`, `text_embedding_projection.*` |
| `vae` | `vae.*` |
| `audio_vae` | `audio_vae.*` |
| `vocoder` | `vocoder.*` |

diffusers 0.42's `from_single_file` knows only LTX-2.0's names: for an LTX-2.3 file it leaves the prompt
modulation (`prompt_adaln_single`) and the fourth VAE decoder stage (`up_blocks.7`/`.8`) unloaded with no more
than a warning, and it cannot load the connectors or the vocoder at all. So the names are mapped here, with the
rename tables of diffusers' own conversion script (`scripts/convert_ltx2_to_diffusers.py`, version 2.3), and
each component is loaded strictly: a missing, extra or misshapen tensor is an error that names it, found from
the file's header before any weight is read — never a weight left random.

LTX-2.5 is published split (Lightricks' LTX-2 README, ltx-trainer `model_loader.py`): one file per component, read
here by the same code, each component's keys found in the file that holds them (`Part`):

* `diffusion_models/ltx-2.5-22b-{dev,distilled}-transformer-bf16.safetensors`: `model.diffusion_model.*`, the
  `transformer` and the `connectors` but for their projection;
* `text_encoders/gemma4-12b-with-proj-ltx-2.5-bf16.safetensors`: the connectors' projection,
  `text_embedding_projection.*` (beside Gemma 4's weights, config and tokenizer, which are not read here);
* `vae/ltx-2.5-video-vae-conv-bf16.safetensors`: the `vae`, under bare `encoder.*`, `decoder.*` and
  `per_channel_statistics.*` (ltx-core reads these and `vae.*` alike);
* `vae/ltx-2.5-audio-vae-bf16.safetensors`: `audio_vae.*` and `vocoder.*`.

Lightricks' other video VAE, `ltx-2.5-video-vae-bf16.safetensors`, has a diffusion decoder (ltx-core's
`DiffusionVideoDecoder`, "NADiffusionDecoder"): diffusers has it as a model of its own
(`LTX2VideoDiffusionDecoderModel`, run by a decode pipeline of its own), not as `AutoencoderKLLTX2Video`'s decoder,
which is what the engine's pipeline decodes samples with. It is refused from its header (`diffusion_decoder_reason`).

The component configs come from a folder laid out like a diffusers pipeline (`transformer/config.json`, ...):
by default `LTX23_CONFIGS`, shipped with the engine (see its README for where each value comes from). An LTX-2.5
file is LTX-2.3's architecture with other transformer switches (`bases.py`): those are read from the file's own
tensors (`checkpoint_switches`) and the connectors are sized from the text encoder's config, given to the loader as
`overrides` of the folder's configs, so one folder serves both bases.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the header checks run in the web process, which does not load torch
    import torch

LTX23_CONFIGS = Path(__file__).resolve().parent / "ltx23_configs"
COMPONENTS = ("transformer", "connectors", "vae", "audio_vae", "vocoder")
CONFIG_FILES = {name: f"{name}/config.json" for name in COMPONENTS} | {"scheduler": "scheduler/scheduler_config.json"}
DESCRIPTIONS = {
    "transformer": "transformer (model.diffusion_model.*)",
    "connectors": "text connectors (*_embeddings_connector.*, text_embedding_projection.*)",
    "vae": "video VAE (vae.*)",
    "audio_vae": "audio VAE (audio_vae.*)",
    "vocoder": "vocoder (vocoder.*)",
}

_DIT = "model.diffusion_model."
_CONNECTOR_PARTS = ("video_embeddings_connector", "audio_embeddings_connector", "text_embedding_projection")
_VAE_STAGES = 4  # LTX-2.3's video VAE: four encoder stages, up to four decoder stages

# What is cut from the front of a key before renaming (and put back when writing the original layout). The
# connectors' renames carry their full names instead: they live under two different roots.
PREFIXES = {"transformer": _DIT, "connectors": "", "vae": "vae.", "audio_vae": "audio_vae.", "vocoder": "vocoder."}


def _vae_stage_renames() -> tuple[tuple[str, str], ...]:
    """Lightricks numbers the VAE's blocks and its resamplers in one sequence; diffusers nests them per stage."""
    stages = range(_VAE_STAGES)
    pairs = [(f"encoder.down_blocks.{2 * i + 1}", f"encoder.down_blocks.{i}.downsamplers.0") for i in stages]
    pairs += [(f"encoder.down_blocks.{2 * i}", f"encoder.down_blocks.{i}") for i in stages if i > 0]
    pairs += [(f"encoder.down_blocks.{2 * _VAE_STAGES}", "encoder.mid_block")]
    pairs += [("decoder.up_blocks.0", "decoder.mid_block")]
    pairs += [(f"decoder.up_blocks.{2 * i + 1}", f"decoder.up_blocks.{i}.upsamplers.0") for i in stages]
    pairs += [(f"decoder.up_blocks.{2 * i + 2}", f"decoder.up_blocks.{i}") for i in stages]
    return tuple(pairs)


# (Lightricks name, diffusers name), matched on whole dot-separated segments. The names are those of diffusers'
# conversion script; matching whole segments lets one table serve both directions (the tests write the original
# layout from it) and keeps e.g. `ups` from touching `upsample`.
RENAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "transformer": (
        ("patchify_proj", "proj_in"),
        ("audio_patchify_proj", "audio_proj_in"),
        ("adaln_single", "time_embed"),
        ("audio_adaln_single", "audio_time_embed"),
        ("prompt_adaln_single", "prompt_adaln"),  # LTX-2.3; missing from diffusers 0.42's from_single_file
        ("audio_prompt_adaln_single", "audio_prompt_adaln"),  # LTX-2.3; likewise
        ("av_ca_video_scale_shift_adaln_single", "av_cross_attn_video_scale_shift"),
        ("av_ca_a2v_gate_adaln_single", "av_cross_attn_video_a2v_gate"),
        ("av_ca_audio_scale_shift_adaln_single", "av_cross_attn_audio_scale_shift"),
        ("av_ca_v2a_gate_adaln_single", "av_cross_attn_audio_v2a_gate"),
        ("scale_shift_table_a2v_ca_video", "video_a2v_cross_attn_scale_shift_table"),
        ("scale_shift_table_a2v_ca_audio", "audio_a2v_cross_attn_scale_shift_table"),
        ("q_norm", "norm_q"),
        ("k_norm", "norm_k"),
    ),
    "connectors": (
        (_DIT + "video_embeddings_connector", "video_connector"),
        (_DIT + "audio_embeddings_connector", "audio_connector"),
        ("text_embedding_projection.video_aggregate_embed", "video_text_proj_in"),  # LTX-2.3: one per modality
        ("text_embedding_projection.audio_aggregate_embed", "audio_text_proj_in"),
        ("text_embedding_projection.aggregate_embed", "text_proj_in"),  # LTX-2.0: one shared projection
        ("transformer_1d_blocks", "transformer_blocks"),
        ("q_norm", "norm_q"),
        ("k_norm", "norm_k"),
    ),
    "vae": (
        *_vae_stage_renames(),  # up_blocks.7/.8 (LTX-2.3's fourth decoder stage) are missing from from_single_file
        ("res_blocks", "resnets"),
        ("per_channel_statistics.mean-of-means", "latents_mean"),
        ("per_channel_statistics.std-of-means", "latents_std"),
        ("decoder.last_time_embedder", "decoder.time_embedder"),
        ("decoder.last_scale_shift_table", "decoder.scale_shift_table"),
    ),
    "audio_vae": (
        ("per_channel_statistics.mean-of-means", "latents_mean"),
        ("per_channel_statistics.std-of-means", "latents_std"),
    ),
    "vocoder": (
        ("resblocks", "resnets"),
        ("conv_pre", "conv_in"),
        ("conv_post", "conv_out"),
        ("act_post", "act_out"),
        ("downsample.lowpass", "downsample"),
        ("ups", "upsamplers"),
    ),
}
# Statistics Lightricks keeps that diffusers' VAE has no place for (diffusers' converter drops them too).
DROPPED = {"vae": ("per_channel_statistics.channel", "per_channel_statistics.mean-of-stds")}


# Per component, config values that replace the config folder's (e.g. {"transformer": {"ff_bias": False}}).
Overrides = Mapping[str, Mapping[str, Any]]

# The tensors each transformer switch (bases.SWITCHES) adds to a checkpoint, under Lightricks' names.
SWITCH_TENSORS = {
    "ff_bias": re.compile(r"model\.diffusion_model\.transformer_blocks\.\d+\.ff\.net\.\d+(\.proj)?\.bias$"),
    "audio_ff_bias": re.compile(r"model\.diffusion_model\.transformer_blocks\.\d+\.audio_ff\.net\.\d+(\.proj)?\.bias$"),
    "use_prompt_adaln_single": re.compile(r"model\.diffusion_model\.(audio_)?prompt_adaln_single\."),
    "use_keyframes_abs_pos_embedding": re.compile(r"model\.diffusion_model\.keyframes_abs_pos_embedding$"),
}


def checkpoint_switches(shapes: Mapping[str, Any]) -> dict[str, bool]:
    """The transformer switches a single file's tensors show (its header's names, `read_header`): a switch is on when
    any of its tensors is there.

    The tensors themselves rather than the embedded config: a config that disagreed with them could not load, and
    LTX-2.5.0 and 2.5.1 differ in the keyframe embedding alone. Any one tensor turns a switch on, so a damaged file
    that lost some of a switch's tensors is refused naming those, instead of loading as another architecture.
    """
    return {switch: any(pattern.match(key) for key in shapes) for switch, pattern in SWITCH_TENSORS.items()}


class SingleFileError(ValueError):
    """A single-file checkpoint that does not fit the component configs; the message says what differs."""


@dataclass(frozen=True)
class Part:
    """One file of a checkpoint: the components read from it, and how the operator named it (for messages).

    Lightricks' single file is one part holding every component; its split layout is four (`SPLIT_PARTS`, made by
    `model_paths.checkpoint_parts`).
    """

    path: Path
    components: tuple[str, ...] = COMPONENTS
    setting: str = "model.path"


# A checkpoint as the loader takes it: one file (every component in it) or its parts.
Checkpoint = str | Path | Sequence[Part]

# What each file of Lightricks' split layout holds (the module docstring's list), by its ModelPaths field.
SPLIT_PARTS = {
    "path": ("transformer", "connectors"),
    "text_projection": ("connectors",),
    "video_vae": ("vae",),
    "audio_vae": ("audio_vae", "vocoder"),
}
# The file of each part in Lightricks' LTX-2.5 download, for messages.
SPLIT_FILES = {
    "path": "diffusion_models/ltx-2.5-22b-dev-transformer-bf16.safetensors",
    "text_projection": "text_encoders/gemma4-12b-with-proj-ltx-2.5-bf16.safetensors",
    "video_vae": "vae/ltx-2.5-video-vae-conv-bf16.safetensors",
    "audio_vae": "vae/ltx-2.5-audio-vae-bf16.safetensors",
}

# A standalone video-VAE file keeps its keys bare; ltx-core reads both forms (`VAE_ENCODER_COMFY_KEYS_FILTER`).
_BARE_VAE = ("encoder.", "decoder.", "per_channel_statistics.")
# ltx-core's conv VAE class name in a file's embedded config; any other there is the diffusion VAE
# (`video_vae/model_configurator.py`, `is_diffusion_video_vae`).
_CONV_VAE_CLASS = "CausalVideoAutoencoder"
# Modules only the diffusion decoder has (ltx-core's `DiffusionVideoDecoder`): a file without the config still tells.
_DIFFUSION_DECODER = re.compile(r"(vae\.)?decoder\.(diff_blocks|det_stages|conv_in_x_t|shared_adaln)\.")


def as_parts(checkpoint: Checkpoint) -> tuple[Part, ...]:
    """One file as the single part holding every component, or the parts as given."""
    if isinstance(checkpoint, str | Path):
        return (Part(Path(checkpoint)),)
    return tuple(checkpoint)


def _embedded_vae_class(metadata: Mapping[str, str]) -> str | None:
    """`config.vae._class_name` of Lightricks' embedded config (a JSON string in the metadata), if it says one."""
    try:
        config = json.loads(metadata.get("config", "{}"))
    except ValueError:
        return None
    vae = config.get("vae") if isinstance(config, dict) else None
    name = vae.get("_class_name") if isinstance(vae, dict) else None
    return str(name) if name is not None else None


def diffusion_decoder_reason(shapes: Mapping[str, Any], metadata: Mapping[str, str]) -> str | None:
    """Why a video-VAE file with the diffusion decoder cannot be loaded (None for the convolutional one), from its
    header: the embedded config's class name, else the diffusion decoder's own modules."""
    class_name = _embedded_vae_class(metadata)
    if class_name == _CONV_VAE_CLASS:
        return None
    if class_name is None and not any(_DIFFUSION_DECODER.match(key) for key in shapes):
        return None
    return (
        f"it is Lightricks' video VAE with the diffusion decoder ({class_name or 'NADiffusionDecoder'}). diffusers "
        "has that decoder only as a model of its own (LTX2VideoDiffusionDecoderModel, run by a decode pipeline of its "
        "own), not as the decoder of AutoencoderKLLTX2Video, which the engine encodes clips and decodes validation "
        "samples and Studio previews with; loading only this file's encoder would leave that decoder unloaded. Use the "
        f"convolutional-decoder file, {SPLIT_FILES['video_vae']}: the same latent space (diffusers' docs: latents "
        "are interchangeable between the two decoders), so an adapter trained with it serves either at inference"
    )


def component_of(key: str) -> str | None:
    """Which diffusers component an original key belongs to (None: none of the five)."""
    if key.startswith(_DIT):
        first = key[len(_DIT) :].split(".", 1)[0]
        return "connectors" if first in _CONNECTOR_PARTS else "transformer"
    if key.startswith("text_embedding_projection."):
        return "connectors"
    for name in ("vae", "audio_vae", "vocoder"):
        if key.startswith(PREFIXES[name]):
            return name
    return None


@lru_cache(maxsize=32)
def _by_first_segment(table: tuple[tuple[str, str], ...]) -> dict[str, list[tuple[list[str], list[str]]]]:
    by_first: dict[str, list[tuple[list[str], list[str]]]] = {}
    for old, new in table:
        by_first.setdefault(old.split(".")[0], []).append((old.split("."), new.split(".")))
    for options in by_first.values():
        options.sort(key=lambda pair: -len(pair[0]))
    return by_first


def rename_segments(key: str, table: tuple[tuple[str, str], ...]) -> str:
    """Replace runs of whole segments by the table, left to right, the longest match first, in one pass."""
    by_first = _by_first_segment(table)
    parts, out, i = key.split("."), [], 0
    while i < len(parts):
        for old, new in by_first.get(parts[i], ()):
            if parts[i : i + len(old)] == old:
                out.extend(new)
                i += len(old)
                break
        else:
            out.append(parts[i])
            i += 1
    return ".".join(out)


def to_diffusers(component: str, key: str) -> str | None:
    """The diffusers name of an original key of `component`, or None for a tensor diffusers drops."""
    if key.startswith(_DIT + "text_embedding_projection."):
        key = key[len(_DIT) :]  # some files keep the text projection under the transformer's prefix
    local = key[len(PREFIXES[component]) :]
    if local.startswith(DROPPED.get(component, ())):
        return None
    return rename_segments(local, RENAMES[component])


@dataclass
class Layout:
    """What a checkpoint's headers say: per component, diffusers name -> (original name, shape).

    The original name is Lightricks' full one (a standalone video VAE's bare keys with `vae.` put in front);
    `stored` says which file holds it and under which key.
    """

    components: dict[str, dict[str, tuple[str, tuple[int, ...]]]] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)  # keys of no component (reported, never loaded)
    metadata: dict[str, str] = field(default_factory=dict)  # the first file's
    stored: dict[str, tuple[Path, str]] = field(default_factory=dict)
    # Files that hold what is not theirs to hold, or nothing that is: said before the configs are compared.
    misplaced: list[str] = field(default_factory=list)


def read_header(path: str | Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor shapes and metadata from a safetensors header, without reading any weight."""
    with Path(path).open("rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(size))
    metadata = header.pop("__metadata__", None) or {}
    return {name: tuple(info["shape"]) for name, info in header.items()}, metadata


def read_layout(checkpoint: Checkpoint) -> Layout:
    """Every part's header sorted into components; a component's tensors are taken only from the parts that are to
    hold it (a tensor elsewhere, or in two parts, is `misplaced`). A video-VAE file with the diffusion decoder is
    refused here (`diffusion_decoder_reason`)."""
    parts = as_parts(checkpoint)
    layout = Layout(components={name: {} for name in COMPONENTS})
    where: dict[str, Part] = {}
    twice: dict[tuple[int, int], list[str]] = {}  # (first part, second part) -> keys both hold
    for index, part in enumerate(parts):
        shapes, metadata = read_header(part.path)
        if index == 0:
            layout.metadata = metadata
        if "vae" in part.components and any(key.startswith(("vae.", *_BARE_VAE)) for key in shapes):
            reason = diffusion_decoder_reason(shapes, metadata)
            if reason:
                raise SingleFileError(f"{part.setting} is {part.path.name}: {reason}.")
        held: set[str] = set()
        foreign: set[str] = set()
        for stored_key, shape in shapes.items():
            key = stored_key
            if "vae" in part.components and key.startswith(_BARE_VAE):
                key = "vae." + key
            component = component_of(key)
            if component is None:
                layout.other.append(stored_key)
                continue
            if component not in part.components:
                foreign.add(component)
                continue
            held.add(component)
            if key in where:
                twice.setdefault((parts.index(where[key]), index), []).append(key)
                continue
            where[key] = part
            name = to_diffusers(component, key)
            if name is not None:
                layout.components[component][name] = (key, shape)
                layout.stored[key] = (part.path, stored_key)
        if len(parts) > 1:
            layout.misplaced.extend(_misplaced(part, held, foreign))
    for (first, second), keys in twice.items():
        layout.misplaced.append(f"{_shown(sorted(keys))} {'is' if len(keys) == 1 else 'are'} in both "
                                f"{parts[first].setting} ({parts[first].path.name}) and {parts[second].setting} "
                                f"({parts[second].path.name})")
    return layout


def _descriptions(components: Sequence[str]) -> str:
    return " and the ".join(DESCRIPTIONS[name] for name in COMPONENTS if name in components)


def _misplaced(part: Part, held: set[str], foreign: set[str]) -> list[str]:
    """What a split part holds that is not its to hold, or that it holds nothing of its own."""
    # The text-encoder file is read for the one part of the connectors it holds.
    role = ("text projection (text_embedding_projection.*)" if part.components == SPLIT_PARTS["text_projection"]
            else _descriptions(part.components))
    if not held:
        what = f"the {_descriptions(sorted(foreign))}" if foreign else "no LTX-2 component's tensors"
        return [f"{part.setting} is {part.path.name}, which holds {what}, not the {role}"]
    if foreign:
        return [f"{part.setting} is {part.path.name}, which holds the {_descriptions(sorted(foreign))} as well: in "
                f"the split layout each file is given once, as what it is (this one for the {role})"]
    return []


def _component_class(component: str, config: dict[str, Any]) -> Any:
    # diffusers (seconds, with torch): only when a checkpoint is loaded; the web process imports this module
    import diffusers
    from diffusers.pipelines.ltx2 import LTX2TextConnectors, vocoder

    if component == "connectors":
        return LTX2TextConnectors
    if component == "vocoder":  # LTX-2.3 has the vocoder with bandwidth extension, LTX-2.0 the plain one
        return getattr(vocoder, str(config.get("_class_name", "LTX2VocoderWithBWE")))
    names = {"transformer": "LTX2VideoTransformer3DModel", "vae": "AutoencoderKLLTX2Video",
             "audio_vae": "AutoencoderKLLTX2Audio"}
    return getattr(diffusers, names[component])


def empty_component(component: str, config_dir: str | Path, overrides: Overrides | None = None) -> Any:
    """The component built from its config (with `overrides` for it, if any) with no weights (meta device): its names
    and shapes, at no cost."""
    # accelerate loads torch: only when a checkpoint is loaded; the web process imports this module
    from accelerate import init_empty_weights

    config = json.loads((Path(config_dir) / CONFIG_FILES[component]).read_text(encoding="utf-8"))
    config |= dict((overrides or {}).get(component, {}))
    cls = _component_class(component, config)
    with init_empty_weights():
        return cls.from_config(config)


def _shown(names: list[str], limit: int = 3) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def problems(layout: Layout, models: dict[str, Any], split: bool = False) -> list[str]:
    """Plain sentences for every way the file's (or the `split` checkpoint's files') tensors differ from the models
    the configs build."""
    found: list[str] = []
    for component, model in models.items():
        have = layout.components[component]
        if not have:
            found.append(f"none of its files holds the {DESCRIPTIONS[component]}" if split
                         else f"it holds no {DESCRIPTIONS[component]}")
            continue
        want = {name: tuple(t.shape) for name, t in model.state_dict().items()}
        missing = sorted(set(want) - set(have))
        extra = sorted(have[name][0] for name in set(have) - set(want))
        reshaped = sorted(f"{have[n][0]} is {list(have[n][1])}, not {list(want[n])}"
                          for n in set(want) & set(have) if tuple(have[n][1]) != want[n])
        if missing:
            found.append(f"its {component} lacks {len(missing)} weight(s) the configs need: {_shown(missing)}")
        if extra:
            found.append(f"its {component} has {len(extra)} tensor(s) the configs have no place for: {_shown(extra)}")
        if reshaped:
            found.append(f"{len(reshaped)} {component} tensor(s) have another shape: {_shown(reshaped, 2)}")
    return found


def _named(parts: tuple[Part, ...]) -> str:
    if len(parts) == 1:
        return parts[0].path.name
    return "the split checkpoint " + " + ".join(part.path.name for part in parts)


def check(
    checkpoint: Checkpoint, config_dir: str | Path, overrides: Overrides | None = None
) -> tuple[Layout, dict[str, Any]]:
    """Compare the file's header (or the headers of a split checkpoint's parts) with the configs (and their
    `overrides`); raise SingleFileError saying what differs."""
    parts = as_parts(checkpoint)
    layout = read_layout(parts)
    if layout.misplaced:
        raise SingleFileError("; ".join(layout.misplaced) + ".")
    models = {component: empty_component(component, config_dir, overrides) for component in COMPONENTS}
    found = problems(layout, models, split=len(parts) > 1)
    if found:
        raise SingleFileError(f"{_named(parts)} does not fit the model configs in {config_dir}: " + "; ".join(found)
                              + ".")
    return layout, models


def load_components(
    checkpoint: Checkpoint,
    config_dir: str | Path,
    dtype: torch.dtype,
    only: tuple[str, ...] = COMPONENTS,
    overrides: Overrides | None = None,
) -> dict[str, Any]:
    """The `only` components (default all: transformer, connectors, vae, audio_vae and vocoder) from one file, or
    from the parts of a split checkpoint (`Part`).

    Every file is checked against the configs (with `overrides`) first; then each chosen component's every tensor
    is loaded from the file that holds it.
    """
    # safetensors: only when a checkpoint is loaded; the web process imports this module
    from safetensors import safe_open

    layout, models = check(checkpoint, config_dir, overrides)  # before reading tens of gigabytes
    models = {component: model for component, model in models.items() if component in only}
    wanted = {layout.stored[original][0] for component in models
              for original, _shape in layout.components[component].values()}
    with ExitStack() as stack:
        handles = {path: stack.enter_context(safe_open(str(path), framework="pt", device="cpu")) for path in wanted}
        for component, model in models.items():
            state = {}
            for name, (original, _shape) in layout.components[component].items():
                path, key = layout.stored[original]
                tensor = handles[path].get_tensor(key)
                # A copy, as from_pretrained makes: the file's tensors can sit at unaligned offsets of the mapped
                # file, and CPU kernels then sum in another order (outputs differed by ~1e-6 from the folder's).
                state[name] = tensor.to(dtype=dtype if tensor.is_floating_point() else tensor.dtype, copy=True)
            # strict + assign: every parameter and persistent buffer comes from the file, none stays empty
            model.load_state_dict(state, strict=True, assign=True)
            model.eval()
    return models
