"""What a recipe is: plain-language guidance plus the defaults it gives the next wizard steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ReferenceKind = Literal["video", "image"]


@dataclass(frozen=True)
class TrainingDefaults:
    """Settings a recipe starts the Config step with; presets scale steps around `steps`."""

    rank: int = 32
    learning_rate: float = 2e-4
    steps: int = 2000
    first_frame_probability: float = 0.1
    reference_downscale_factor: int = 1


@dataclass(frozen=True)
class Recipe:
    slug: str
    name: str
    summary: str  # one line on the recipe card
    what_it_does: str  # what the adapter does when you generate
    reference: str  # what the reference clip is
    what_to_upload: str
    good_pairs: tuple[str, ...]
    caption_example: str
    trigger_phrase: str = ""
    reference_kind: ReferenceKind = "video"
    # Extraction methods (prep.models.Extraction.Method) that make this recipe's references from targets.
    derive_methods: tuple[str, ...] = ()
    derived_noun: str = ""  # what the server makes, e.g. "depth maps"
    clips_recommended: str = "15 or more pairs to start; 20–40 suit most adapters."
    defaults: TrainingDefaults = field(default_factory=TrainingDefaults)
    sources: tuple[str, ...] = ()
    # How the recipe trains on each base model besides LTX-2.3, one plain sentence each as (base name, sentence),
    # from Lightricks' published training configs for that base (engine.bases cites them).
    base_notes: tuple[tuple[str, str], ...] = ()
    # A reference voice per clip (optional): the adapter then learns the person's voice with their face, and the clip's
    # own sound is trained. Empty: the recipe takes no voices (sound files are left unused).
    voice_upload: str = ""  # what to upload and how it is named
    good_voice: tuple[str, ...] = ()  # what makes a good voice sample
    voice_training: str = ""  # one sentence the Settings and Launch steps say when the pairs have voices

    @property
    def accepts_voice(self) -> bool:
        return bool(self.voice_upload)

    @property
    def reference_derivable(self) -> bool:
        return bool(self.derive_methods)

    @property
    def reference_is_image(self) -> bool:
        return self.reference_kind == "image"
