"""What training a draft will do, as every step shows it: the settings it trains with, and what those settings do
to each pair. The Clips step's notes on each pair and the Launch step's summary both come from `plan_for`, so they
cannot disagree."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from datasets.models import ClipPair, Dataset
from datasets.recipes import get_recipe
from wizard.models import TrainingDraft
from wizard.plan import ClipFacts, TrainingSettings, preset_settings
from wizard.review import DatasetReview, review_dataset


@dataclass(frozen=True)
class DraftPlan:
    values: TrainingSettings
    review: DatasetReview  # every pair with its findings at `values`' shapes and lengths


def clip_facts(dataset: Dataset) -> ClipFacts:
    """What the presets are fitted to: the checked clips (those that passed, with or without notes)."""
    metas = [p.target_meta for p in dataset.pairs.all() if p.status in (ClipPair.Status.OK, ClipPair.Status.WARNING)]
    return ClipFacts.from_metas(metas)


def settings_of(draft: TrainingDraft) -> TrainingSettings:
    """The draft's saved settings, or before any are saved its chosen preset (Balanced at first) for the recipe,
    fitted to the clips."""
    if draft.settings:
        with contextlib.suppress(TypeError):
            return TrainingSettings.from_dict(draft.settings)
    return preset_settings(draft.preset, get_recipe(draft.dataset.recipe), clip_facts(draft.dataset))


def plan_for(draft: TrainingDraft) -> DraftPlan:
    """The draft's settings and its dataset reviewed at them."""
    values = settings_of(draft)
    return DraftPlan(values, review_dataset(draft.dataset, values.shapes, values.whole_clips))
