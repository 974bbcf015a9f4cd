"""References made on the server (Depth, Canny, Pose, Union, Motion tracks) and captions written by the captioner.

A derived pair points at the extraction that makes its reference; when the extraction ends, the pair takes
its output as the reference file and is checked like any uploaded pair. Training reads that same file, so
what the creator previewed is exactly what is trained on.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction

from datasets.models import ClipPair, Dataset
from datasets.recipes import RECIPES, Recipe, get_recipe
from datasets.services import run_checks
from prep.extract.base import ExtractionError
from prep.models import Extraction
from prep.services import clean_settings, creator_problem, method_problem, request_extraction

Method = Extraction.Method
NOUNS: dict[str, str] = {Method.DEPTH: "depth map", Method.CANNY: "edge map", Method.POSE: "pose skeleton",
                         Method.TRACKS: "motion-track video"}


def noun(method: str) -> str:
    return NOUNS.get(method, "reference")


def method_problems(recipe: Recipe) -> dict[str, str]:
    """The recipe's methods this server cannot run, each with the reason in a creator's words."""
    return {m: problem for m in recipe.derive_methods if (problem := creator_problem(m))}


def derived_here() -> dict[str, str]:
    """{slug: what the server makes} for the recipes whose references it can make now: the recipe's own noun when
    every method runs, else only the kinds it can make ("edge maps and pose skeletons" for Union without depth)."""
    made = {}
    for r in RECIPES.values():
        usable = usable_methods(r) if r.reference_derivable else []
        if usable:
            nouns = [f"{noun(m)}s" for m in usable]
            made[r.slug] = r.derived_noun if len(usable) == len(r.derive_methods) else " and ".join(nouns)
    return made


def usable_methods(recipe: Recipe) -> list[str]:
    problems = method_problems(recipe)
    return [m for m in recipe.derive_methods if m not in problems]


def settings_for(dataset: Dataset, method: str) -> dict[str, Any]:
    """The dataset's settings for `method`, defaults filled in (stored values that no longer pass are dropped)."""
    try:
        return clean_settings(method, dict(dataset.derive_settings.get(method, {})))
    except ExtractionError:
        return clean_settings(method, {})


def save_settings(dataset: Dataset, method: str, data: dict[str, Any]) -> dict[str, Any]:
    """Validate and store `method`'s settings; raises ExtractionError (plain message) and stores nothing."""
    cleaned = clean_settings(method, data)
    dataset.derive_settings = {**dataset.derive_settings, method: cleaned}
    dataset.save(update_fields=["derive_settings", "updated_at"])
    return cleaned


def _method_for(pair: ClipPair, recipe: Recipe, usable: list[str], index: int) -> str:
    if pair.derive_method in recipe.derive_methods:
        return pair.derive_method
    if usable:  # Union takes turns so the kinds of control are mixed across the dataset
        return usable[index % len(usable)]
    return recipe.derive_methods[0]


def schedule_derivations(dataset: Dataset, *, method: str | None = None, force: bool = False) -> None:
    """Ask for the reference of every derived pair (only those of `method` when given).

    Pairs whose extraction already matches their settings are left alone; a failed one is tried again only
    with `force` (a clip with nobody in it would fail again on every upload).
    """
    recipe = get_recipe(dataset.recipe)
    if not recipe.reference_derivable:
        return
    usable = usable_methods(recipe)
    pairs = dataset.pairs.filter(reference_is_derived=True).select_related("target_source", "extraction")
    for index, pair in enumerate(pairs.order_by("position", "name")):
        chosen = _method_for(pair, recipe, usable, index)
        if method is None or chosen == method:
            derive_pair(pair, chosen, force=force)


def derive_pair(pair: ClipPair, method: str, *, force: bool = False) -> ClipPair:
    """Point `pair` at the extraction of `method` with the dataset's settings, asking for it if needed."""
    dataset = pair.dataset
    problem = method_problem(method)
    if problem or pair.target_source is None:
        _refuse(pair, method, problem or "The clip itself is missing.")
        return pair
    current = pair.extraction
    if (current is not None and current.state == Extraction.State.FAILED and not force
            and current.method == method and current.settings == settings_for(dataset, method)):
        return pair
    source = pair.target_source
    extraction = request_extraction(dataset.owner, method, settings_for(dataset, method), source.file,
                                    source.name, source.sha256)
    if pair.extraction_id == extraction.pk and pair.derive_method == method and not force:
        return pair
    pair.extraction, pair.derive_method = extraction, method
    pair.reference_file.name = ""
    pair.status, pair.messages, pair.checked_at, pair.reference_meta = ClipPair.Status.PENDING, [], None, {}
    pair.save()
    if extraction.state == Extraction.State.DONE:
        transaction.on_commit(partial(use_extraction, extraction))
    return pair


def _refuse(pair: ClipPair, method: str, problem: str) -> None:
    text = (f"{creator_problem(method) or problem} Upload a reference for this clip instead, named "
            f"{pair.name}_ref.mp4.")
    pair.extraction, pair.derive_method, pair.status = None, method, ClipPair.Status.ERROR
    pair.messages = [{"level": "error", "code": "derive_unavailable", "text": text}]
    pair.save()


def use_extraction(extraction: Extraction) -> None:
    """Give every pair waiting on `extraction` its outcome: the reference to check, or a plain error."""
    for pair in ClipPair.objects.filter(extraction=extraction).select_related("dataset", "target_source"):
        if extraction.state == Extraction.State.DONE:
            ClipPair.objects.filter(pk=pair.pk, extraction=extraction).update(
                reference_file=extraction.output.name, status=ClipPair.Status.CHECKING, messages=[])
            pair.refresh_from_db()
            if pair.extraction_id == extraction.pk:
                run_checks(pair)
        elif extraction.state == Extraction.State.FAILED:
            text = f"The {noun(extraction.method)} could not be made: {extraction.error_message}"
            ClipPair.objects.filter(pk=pair.pk, extraction=extraction).update(
                status=ClipPair.Status.ERROR, messages=[{"level": "error", "code": "derive_failed", "text": text}])
    for pair in ClipPair.objects.filter(caption_extraction=extraction, caption_typed=False):
        if extraction.state == Extraction.State.DONE and extraction.caption:
            ClipPair.objects.filter(pk=pair.pk, caption_typed=False).update(
                caption=extraction.caption, caption_auto=True)


def request_captions(dataset: Dataset) -> int:
    """Ask the captioner for every pair whose caption was not typed; returns how many were asked for.

    Raises ExtractionError with a plain message when this server has no captioner.
    """
    problem = creator_problem(Method.CAPTION)
    if problem:
        raise ExtractionError(problem)
    asked = 0
    for pair in dataset.pairs.filter(caption_typed=False).select_related("target_source"):
        source = pair.target_source
        if source is None:
            continue
        extraction = request_extraction(dataset.owner, Method.CAPTION, {}, source.file, source.name, source.sha256)
        ClipPair.objects.filter(pk=pair.pk).update(caption_extraction=extraction)
        asked += 1
        if extraction.state == Extraction.State.DONE:
            transaction.on_commit(partial(use_extraction, extraction))
    return asked


def on_clips_arrived(sender: Any, dataset: Dataset, **kwargs: Any) -> None:
    """New clips came in: ask for the references the server makes for them, before the pairs are checked."""
    schedule_derivations(dataset)


def on_extraction_finished(sender: Any, extraction: Extraction, **kwargs: Any) -> None:
    use_extraction(extraction)
