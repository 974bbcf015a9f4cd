"""Changing every caption of a dataset at once: find and replace, or add words to each, with one step of undo.

A creator with a hundred clips fixes a word the captioner keeps getting wrong (or a mention of the control signal,
which captions should not describe) in one go instead of a hundred edits. Edited captions count as typed, as an
edit in the page would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from datasets.models import ClipPair, Dataset

MAX_CAPTION = 2000  # CaptionForm's limit


def undo_key(dataset_id: int) -> str:
    """Where the session keeps the captions the last change replaced."""
    return f"caption-undo-{dataset_id}"


class CaptionEditRefused(ValueError):
    """Nothing was changed; the message says why, in plain words."""


@dataclass
class CaptionChange:
    changed: int = 0
    before: dict[str, str] = field(default_factory=dict)  # pair id (as text: it is kept in the session) → caption


def replace_words(dataset: Dataset, find: str, replacement: str) -> CaptionChange:
    """Replace `find` (any case) with `replacement` in every caption; spaces left doubled are tidied."""
    find = find.strip()
    if not find:
        raise CaptionEditRefused("Type the words to find.")
    pattern = re.compile(re.escape(find), re.IGNORECASE)

    def edit(caption: str) -> str:
        if not pattern.search(caption):
            return caption  # untouched: tidying alone would be a change the creator did not ask for
        return _tidy(pattern.sub(lambda _: replacement.strip(), caption))

    change = _apply(dataset, edit)
    if not change.changed:
        raise CaptionEditRefused(f"No caption contains “{find}”.")
    return change


def add_words(dataset: Dataset, words: str, at_start: bool) -> CaptionChange:
    """Add `words` to the start or end of every caption that does not have them there already."""
    words = words.strip()
    if not words:
        raise CaptionEditRefused("Type the words to add.")

    def edit(caption: str) -> str:
        if not caption.strip():
            return caption  # an empty caption is for the creator to write, not to fill with a fragment
        if at_start:
            return caption if caption.lower().startswith(words.lower()) else f"{words} {caption.strip()}"
        base = caption.strip()
        if base.lower().endswith(words.lower()):
            return caption
        return f"{base}{'' if base.endswith((',', ';', ':')) or words.startswith((',', '.')) else ','} {words}"

    change = _apply(dataset, edit)
    if not change.changed:
        raise CaptionEditRefused("Every caption already has these words there, or is still empty.")
    return change


def restore(dataset: Dataset, before: dict[str, str]) -> int:
    """Put back the captions `before` held (the last change's undo); returns how many."""
    pairs = {str(p.pk): p for p in dataset.pairs.filter(pk__in=[int(pk) for pk in before])}
    with transaction.atomic():
        for pk, caption in before.items():
            if pk in pairs:
                _save(pairs[pk], caption)
    return len(pairs)


def _apply(dataset: Dataset, edit: Callable[[str], str]) -> CaptionChange:
    change = CaptionChange()
    updates = []
    for pair in dataset.pairs.order_by("position", "name"):
        new = edit(pair.caption)
        if new == pair.caption:
            continue
        if len(new) > MAX_CAPTION:
            raise CaptionEditRefused(f"The caption of “{pair.name}” would be longer than {MAX_CAPTION} characters. "
                                     "Nothing was changed.")
        change.before[str(pair.pk)] = pair.caption
        updates.append((pair, new))
    with transaction.atomic():
        for pair, new in updates:
            _save(pair, new)
    change.changed = len(updates)
    return change


def _save(pair: ClipPair, caption: str) -> None:
    pair.caption, pair.caption_typed, pair.caption_auto = caption, True, False
    pair.save(update_fields=["caption", "caption_typed", "caption_auto"])


def _tidy(text: str) -> str:
    text = re.sub(r"\s{2,}", " ", text)
    return re.sub(r"\s+([,.;:])", r"\1", text).strip()
