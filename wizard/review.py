"""The dataset as a creator sees it before launch: every pair with all its findings, and what blocks launch.

Stored findings (decoding, pair rules) come from the checks; findings that depend on the chosen training
shape, on captions or on the other pairs (duplicates) are added here, every time, so they are never stale.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from datasets.models import ClipPair, Dataset
from datasets.pairing import Pairing
from datasets.recipes import Recipe, get_recipe
from datasets.services import meta_summary, plan_pairs, voice_findings, voice_summary
from datasets.splitting import target_shots
from datasets.validation import (
    Finding,
    Shape,
    assigned_shape,
    check_against_shape,
    kept_fractions,
    status_of,
)

RECOMMENDED_PAIRS = 15
LEVEL_ORDER = {"error": 0, "warning": 1, "info": 2}
PREVIEW_ASPECT = 16 / 9  # the clips step's preview boxes (wizard.css, .pair-media video)


@dataclass
class PairView:
    pair: ClipPair
    findings: list[dict[str, Any]]
    status: str  # a ClipPair.Status value
    shape: Shape | None = None  # the training shape this pair is assigned (None until its target is probed)

    @property
    def checking(self) -> bool:
        return self.status in (ClipPair.Status.PENDING, ClipPair.Status.CHECKING)

    @property
    def status_label(self) -> str:
        return ClipPair.Status(self.status).label

    @property
    def deriving(self) -> bool:
        """The server is still making this pair's reference."""
        extraction = self.pair.extraction
        return bool(self.pair.reference_is_derived and extraction is not None and not extraction.finished)

    @property
    def captioning(self) -> bool:
        extraction = self.pair.caption_extraction
        return bool(extraction is not None and not extraction.finished and not self.pair.caption_typed)

    @property
    def target_summary(self) -> str:
        return meta_summary(self.pair.target_meta)

    @property
    def reference_summary(self) -> str:
        return meta_summary(self.pair.reference_meta)

    @property
    def voice_summary(self) -> str:
        return voice_summary(self.pair.voice_meta)

    @property
    def split_shots(self) -> int:
        """How many pairs splitting at the target's cuts would make (0: nothing to split)."""
        found = [] if self.checking else target_shots(self.pair.target_meta)
        return len(found) if len(found) > 1 else 0

    @property
    def crop_guide(self) -> dict[str, float] | None:
        """Where the part training keeps lies in the page's 16:9 preview box, in percent of the box (left, top,
        width, height), or None when the crop takes (almost) nothing."""
        meta = self.pair.target_meta
        if self.shape is None or not meta.get("width") or not meta.get("height"):
            return None
        kept_w, kept_h = kept_fractions(meta["width"], meta["height"], self.shape)
        if kept_w * kept_h > 0.99:
            return None
        # The clip is letterboxed (object-fit: contain) inside the box; the kept part is centred in the clip.
        aspect = meta["width"] / meta["height"]
        shown_w, shown_h = (1.0, PREVIEW_ASPECT / aspect) if aspect > PREVIEW_ASPECT else (aspect / PREVIEW_ASPECT, 1.0)
        width, height = 100 * shown_w * kept_w, 100 * shown_h * kept_h
        return {"left": round((100 - width) / 2, 2), "top": round((100 - height) / 2, 2),
                "width": round(width, 2), "height": round(height, 2)}


@dataclass
class DatasetReview:
    dataset: Dataset
    recipe: Recipe
    pairs: list[PairView]
    pairing: Pairing
    shapes: list[Shape]
    blocking: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def splittable(self) -> list[PairView]:
        """Pairs whose target holds more than one shot that can be trained on."""
        return [view for view in self.pairs if view.split_shots]

    @property
    def target_metas(self) -> list[dict[str, Any]]:
        """What the checks found about each pair's target (frames, fps, size)."""
        return [view.pair.target_meta for view in self.pairs]

    @property
    def shape_counts(self) -> list[tuple[Shape, int]]:
        """Each training shape with how many ready pairs train at it, in the settings' order."""
        ready = [p for p in self.pairs if p.status in (ClipPair.Status.OK, ClipPair.Status.WARNING)]
        return [(shape, sum(1 for p in ready if p.shape == shape)) for shape in self.shapes]

    def count(self, status: str) -> int:
        return sum(1 for p in self.pairs if p.status == status)

    @property
    def ready(self) -> int:
        return self.count("ok") + self.count("warning")

    @property
    def errors(self) -> int:
        return self.count("error")

    @property
    def checking(self) -> bool:
        return any(p.checking or p.captioning for p in self.pairs)

    @property
    def deriving(self) -> int:
        return sum(1 for p in self.pairs if p.deriving)

    @property
    def uncaptioned(self) -> int:
        return sum(1 for p in self.pairs if not p.pair.caption.strip() and not p.captioning)

    @property
    def needs_look(self) -> bool:
        """Whether the clips page shows every pair unfolded: while pairs are checked or references made, or when
        one needs attention or its caption; a long list that needs nothing stays folded under its summary."""
        return bool(self.errors or self.checking or self.deriving or self.uncaptioned)

    @property
    def can_launch(self) -> bool:
        return not self.blocking


def _shape_of(pair: ClipPair, shapes: list[Shape]) -> Shape | None:
    meta = pair.target_meta
    if not shapes or not all(meta.get(key) for key in ("width", "height", "frames", "fps")):
        return None
    return assigned_shape(meta, shapes)


def _shape_findings(meta: dict[str, Any], shape: Shape, several: bool, whole_clips: bool) -> list[Finding]:
    """What training at its assigned shape does to this target; with several shapes, which one and why."""
    found = []
    if several:
        ratio = meta["width"] / meta["height"]
        found.append(Finding("info", "shape", f"Trains at {shape.width}×{shape.height}, the shape closest to this "
                             f"clip's {meta['width']}×{meta['height']} ({ratio:.2f}:1)."))
    return [*found, *check_against_shape(meta, shape, whole_clips)]


def _dynamic_findings(pair: ClipPair, shapes: list[Shape], duplicates: dict[str, list[str]],
                      whole_clips: bool, voiced: bool = False) -> list[Finding]:
    found: list[Finding] = voice_findings(pair) if voiced else []
    target, reference = pair.target_source, pair.reference_source
    if target is not None and reference is not None and target.sha256 == reference.sha256:
        found.append(Finding("error", "same_file", "The reference is the very same file as the target, so there "
                             "is nothing to learn. Upload the matching reference clip."))
    if target is not None:
        others = [name for name in duplicates.get(target.sha256, []) if name != pair.name]
        if others:
            found.append(Finding("warning", "duplicate", f"Same target clip as pair “{others[0]}”: it would count "
                                 "twice and weigh more than the others. Remove one of them."))
    if not pair.caption.strip():
        found.append(Finding("warning", "no_caption", "No caption yet. Describe the scene, style and motion of the "
                             "target (not the reference)."))
    shape = _shape_of(pair, shapes)
    if shape is not None and pair.status in (ClipPair.Status.OK, ClipPair.Status.WARNING):
        found.extend(_shape_findings(pair.target_meta, shape, len(shapes) > 1, whole_clips))
    return found


def review_dataset(dataset: Dataset, shapes: list[Shape] | None = None, whole_clips: bool = False) -> DatasetReview:
    """Every pair with its findings; with the training `shapes`, each pair's crop, trim and length findings are
    those of the shape it is assigned (the engine's rule: closest aspect ratio), and with `whole_clips` how many
    training clips a long one gives."""
    shapes = shapes or []
    recipe = get_recipe(dataset.recipe)
    pairs = list(dataset.pairs.select_related("target_source", "reference_source", "voice_source", "extraction",
                                              "caption_extraction").order_by("position", "name"))
    voiced = recipe.accepts_voice and any(pair.voice_file.name for pair in pairs)
    duplicates: dict[str, list[str]] = defaultdict(list)
    for pair in pairs:
        if pair.target_source is not None:
            duplicates[pair.target_source.sha256].append(pair.name)
    views = []
    for pair in pairs:
        # With voices the clip's sound is trained: the checks' note that it is ignored no longer holds.
        stored = [Finding(**m) for m in pair.messages if not (voiced and m.get("code") == "audio")]
        dynamic = _dynamic_findings(pair, shapes, duplicates, whole_clips, voiced)
        findings = sorted([*stored, *dynamic], key=lambda f: LEVEL_ORDER.get(f.level, 3))
        checking = pair.status in (ClipPair.Status.PENDING, ClipPair.Status.CHECKING)
        status = pair.status if checking else status_of(findings)
        views.append(PairView(pair, [f.as_dict() for f in findings], status, _shape_of(pair, shapes)))
    review = DatasetReview(dataset, recipe, views, plan_pairs(dataset), shapes)
    _conclude(review)
    return review


def _conclude(review: DatasetReview) -> None:
    if not review.pairs:
        review.blocking.append("Add at least one complete pair (a target and its reference).")
    if review.errors:
        pairs, verb = ("pair", "needs") if review.errors == 1 else ("pairs", "need")
        review.blocking.append(f"{review.errors} {pairs} {verb} attention: fix or remove them.")
    if review.deriving:
        review.blocking.append("Some references are still being made.")
    elif any(p.checking for p in review.pairs):
        review.blocking.append("Some pairs are still being checked.")
    if review.pairs and len(review.pairs) < RECOMMENDED_PAIRS:
        review.notes.append(f"{len(review.pairs)} pair{'s' if len(review.pairs) != 1 else ''} so far: "
                            f"{RECOMMENDED_PAIRS} or more are recommended for a useful adapter.")
    orphans = (len(review.pairing.targets_without_reference) + len(review.pairing.references_without_target)
               + len(review.pairing.voices_without_target))
    if orphans:
        review.notes.append(f"{orphans} file{'s' if orphans != 1 else ''} without a partner will not be used.")
