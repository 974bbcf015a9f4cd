"""The base models an adapter is trained for, LTX-2.3 and LTX-2.5: one typed record each, with where every fact
comes from.

Everything that differs between the two for IC-LoRA training is a value here and never an `if` in the loop: the
transformer's switches, the text encoder, the latent and frame rules, the default training values. What the record
says was read in these sources (none of their code is copied):

* diffusers 0.42.1, `models/transformers/transformer_ltx2.py` (the switches `ff_bias`, `audio_ff_bias`,
  `use_prompt_adaln_single`, `use_keyframes_abs_pos_embedding`, "False for LTX-2.5") and
  `pipelines/ltx2/utils.py` (`resolve_default_image_crf`: Gemma 4 means LTX-2.5, image CRF 18 instead of 33);
* diffusers' conversion script `scripts/convert_ltx2_to_diffusers.py` (huggingface/diffusers at 58eb52c), whose
  `"2.5"` branches say: the transformer is 2.3's but for `ff_bias=False` and, from 2.5.1 on, the keyframe
  embedding (`audio_ff_bias` and `use_prompt_adaln_single` keep True); the connectors are 2.3's but sized from the
  Gemma 4 text config (`hidden_size`, `num_hidden_layers + 1`); the video VAE, audio VAE and vocoder configs are
  2.3's ("byte-identical" VAE block metadata); the text encoder must be `gemma4_unified`;
* Lightricks' LTX-2 repository (packages/ltx-core 1.2.0, `model_configurator.py`: the same four switch names read
  from a checkpoint's embedded config, defaults those of 2.3; `conditioning/types/reference_video_cond.py`:
  IC-LoRA reference tokens are never marked as keyframes, so the keyframe embedding never reaches an IC-LoRA
  step; packages/ltx-trainer `docs/configuration-reference.md`: one training schema for LTX-2, 2.3 and 2.5, the
  architecture read from checkpoint metadata, LTX-2.5 needing Lightricks' fine-tuned Gemma 4;
  `docs/dataset-preparation.md`: buckets W and H multiples of 32, frames `% 8 == 1`, for every base; captions
  encoded by Gemma 3 and Gemma 4 are not interchangeable).

Plain Python and Pydantic (no torch): the web process reads the registry too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BaseName = Literal["ltx-2.3", "ltx-2.5"]
LTX_2_3: BaseName = "ltx-2.3"
LTX_2_5: BaseName = "ltx-2.5"

# The transformer switches a checkpoint's architecture is told by: diffusers' config keys, which ltx-core reads under
# the same names from a single file's embedded config (`model_configurator.py`), with these defaults (LTX-2.3's) for
# a config that lacks them.
SWITCH_DEFAULTS = {"ff_bias": True, "audio_ff_bias": True, "use_prompt_adaln_single": True,
                   "use_keyframes_abs_pos_embedding": False}
SWITCHES = tuple(SWITCH_DEFAULTS)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextEncoderKind(_Frozen):
    """The text encoder a base was trained with; captions encoded by another are not interchangeable."""

    family: Literal["gemma3", "gemma4_unified"] = Field(
        description="transformers' `model_type` of the encoder's config (config.json), checked before loading."
    )
    class_name: str = Field(description="The transformers class LTX2InContextPipeline loads it as.")
    files: str = Field(description="What Lightricks ships or names for it, for messages to an operator.")
    source: str = Field(description="Where this fact comes from.")


class ShapeRules(_Frozen):
    """How pixels become latents: the VAE's compression and what a bucket must therefore be."""

    spatial_compression: int = Field(description="Pixels per latent cell on each side; bucket W and H multiples of it.")
    temporal_compression: int = Field(description="Frames per latent frame after the first; bucket frames T*n+1.")
    latent_channels: int = Field(description="Channels of the video latents (the transformer's in_channels).")
    source: str = Field(description="Where these facts come from.")

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Latent (f, h, w) of a clip of `frames` x `height` x `width` pixels that follows the rules."""
        return ((frames - 1) // self.temporal_compression + 1, height // self.spatial_compression,
                width // self.spatial_compression)


class TrainingDefaults(_Frozen):
    """The values a run of this base starts from when the creator changes nothing."""

    rank: int = Field(description="LoRA rank.")
    learning_rate: float = Field(description="AdamW peak learning rate.")
    steps: int = Field(description="Optimizer steps.")
    first_frame_conditioning_p: float = Field(description="Probability the first latent frame stays clean.")
    audio: Literal["isolated", "silence"] = Field(description="The audio regime (engine.config.DiffusionConfig).")
    source: str = Field(description="Where these values come from.")


class Base(_Frozen):
    """One base model: everything about it that IC-LoRA training and its loading depend on."""

    name: BaseName = Field(description="The preset name, stored in adapters as their `base`.")
    title: str = Field(description="How pages and messages name it.")
    transformer: dict[str, bool] = Field(
        description="The switches of LTX2VideoTransformer3DModel that make this base's transformer (SWITCHES); the "
        "rest of its config is 2.3's for both bases."
    )
    identity: dict[str, bool] = Field(
        description="The switches that tell this base from the others in a transformer config or a checkpoint's "
        "tensors (the keyframe embedding is not one: LTX-2.5.0 lacks it, 2.5.1 has it)."
    )
    transformer_source: str = Field(description="Where the switches come from.")
    text_encoder: TextEncoderKind = Field(description="The text encoder it needs.")
    shapes: ShapeRules = Field(description="Latent shapes and the frame and size rules of its buckets.")
    training: TrainingDefaults = Field(description="Default training values.")
    image_crf: int = Field(
        description="H.264 CRF diffusers' pipelines re-compress still-image (keyframe) conditions with; IC-LoRA "
        "references are not re-compressed (pipeline_ltx2_ic_lora.py), so training does not use it."
    )
    environment: tuple[str, str, str] = Field(
        description="The operator's variables for its dev checkpoint, text encoder and distilled checkpoint."
    )
    split_environment: tuple[str, str, str] | None = Field(
        default=None,
        description="The operator's variables for the files of Lightricks' split layout beside the transformer file "
        "(video VAE, audio VAE with vocoder, packed text encoder with the text projection; model_paths.ModelPaths); "
        "None for a base Lightricks ships as single files only.",
    )
    cache_suffix: str = Field(
        description="Added to the model name in cache keys of text embeddings: empty for LTX-2.3, so the caches of "
        "runs made before bases existed stay valid."
    )

    def matches(self, switches: Mapping[str, Any]) -> bool:
        """Whether a transformer config (or the switches read from a checkpoint) is of this base."""
        return all(switches.get(key, SWITCH_DEFAULTS[key]) == value for key, value in self.identity.items())


_SHAPES = ShapeRules(
    spatial_compression=32, temporal_compression=8, latent_channels=128,
    source="diffusers' conversion script: the 2.5 video VAE config is 2.3's (32x32x8, 128 channels); ltx-trainer "
    "docs/dataset-preparation.md: W and H multiples of 32, frames % 8 == 1, for every checkpoint",
)
_TRAINING = TrainingDefaults(
    rank=32, learning_rate=2e-4, steps=2000, first_frame_conditioning_p=0.1, audio="isolated",
    source="the design note's IC-LoRA recipe (engine.config defaults); ltx-trainer trains LTX-2, 2.3 and 2.5 with one "
    "schema and the same IC-LoRA config (configs/v2v_ic_lora.yaml), so nothing differs per base; the audio regime "
    "stays ltx-trainer's video-only one until measured on the real weights (docs/training.md)",
)

LTX23 = Base(
    name=LTX_2_3,
    title="LTX-2.3",
    transformer={"ff_bias": True, "audio_ff_bias": True, "use_prompt_adaln_single": True,
                 "use_keyframes_abs_pos_embedding": False},
    identity={"ff_bias": True},
    transformer_source="diffusers' conversion script, get_ltx2_transformer_config('2.3'), and the shipped "
    "engine/ltx23_configs (diffusers' defaults for the switches)",
    text_encoder=TextEncoderKind(
        family="gemma3", class_name="Gemma3ForConditionalGeneration",
        files="the Gemma-3 folder gemma-3-12b-it-qat-q4_0-unquantized",
        source="diffusers' conversion script (default --text_encoder_model_id); ltx-core README",
    ),
    shapes=_SHAPES,
    training=_TRAINING,
    image_crf=33,
    environment=("LTX_MODEL_PATH", "LTX_TEXT_ENCODER_PATH", "LTX_DISTILLED_MODEL_PATH"),
    cache_suffix="",
)

LTX25 = Base(
    name=LTX_2_5,
    title="LTX-2.5",
    transformer={"ff_bias": False, "audio_ff_bias": True, "use_prompt_adaln_single": True,
                 "use_keyframes_abs_pos_embedding": True},
    identity={"ff_bias": False},
    transformer_source="diffusers' conversion script, get_ltx2_transformer_config('2.5'): the video feed-forward "
    "without bias, audio_ff_bias and use_prompt_adaln_single kept True 'for this checkpoint', the keyframe "
    "embedding from 2.5.1 on; ltx-core 1.2.0 model_configurator ('LTX 2.5 (gemma4) sets ff_bias=false')",
    text_encoder=TextEncoderKind(
        family="gemma4_unified", class_name="Gemma4UnifiedForConditionalGeneration",
        files="Lightricks' fine-tuned Gemma 4 (gemma4-12b-ltx-v1; packed as gemma4-12b-with-proj-ltx-2.5-bf16)",
        source="diffusers' conversion script (refuses any other model_type for 2.5); ltx-trainer "
        "docs/configuration-reference.md (not Google's vanilla Gemma 4)",
    ),
    shapes=_SHAPES,
    training=_TRAINING,
    image_crf=18,
    environment=("LTX25_MODEL_PATH", "LTX25_TEXT_ENCODER_PATH", "LTX25_DISTILLED_MODEL_PATH"),
    split_environment=("LTX25_VIDEO_VAE_PATH", "LTX25_AUDIO_VAE_PATH", "LTX25_TEXT_PROJECTION_PATH"),
    cache_suffix="+ltx-2.5",
)

BASES: dict[str, Base] = {LTX_2_3: LTX23, LTX_2_5: LTX25}


def get_base(name: str) -> Base:
    """The base called `name`; a ValueError naming the known ones otherwise."""
    if name not in BASES:
        raise ValueError(f"unknown base model {name!r}: use one of {', '.join(BASES)}")
    return BASES[name]


def base_of_switches(switches: Mapping[str, Any]) -> Base:
    """The base a transformer config (or a checkpoint's switches) belongs to. Keys it lacks count as diffusers'
    defaults (LTX-2.3's), as ltx-core counts them for checkpoints from before LTX-2.5."""
    found = [base for base in BASES.values() if base.matches(switches)]
    if len(found) != 1:
        raise ValueError(f"a transformer with {({k: switches.get(k) for k in SWITCHES})} is of "
                         f"{len(found)} known bases, not one")
    return found[0]


def connector_sizes(text_encoder_config: Mapping[str, Any]) -> dict[str, int]:
    """The text connectors' input sizes for a Gemma config (config.json): every hidden state, the embeddings
    included, is stacked, so `text_proj_in_factor` is the layers + 1 (ltx-core's `_create_feature_extractor`; diffusers'
    conversion script derives LTX-2.5's the same way, and LTX-2.3's 3840 x 49 are Gemma-3 12B's)."""
    text = text_encoder_config.get("text_config", text_encoder_config)
    return {"caption_channels": int(text["hidden_size"]), "text_proj_in_factor": int(text["num_hidden_layers"]) + 1}
