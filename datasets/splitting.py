"""Splitting a pair at its target's cuts: one pair per shot, target and reference cut at the same frames.

A clip edited from several shots teaches the adapter to jump. The checks find where the shot changes
(datasets.decoding); this cuts both clips there with frame-exact input seeks, stores each shot under a name that
pairs it again (`walk.mp4` + `walk_ref.mp4` → `walk_shot1.mp4` + `walk_shot1_ref.mp4`, folders and suffixes kept),
and removes the original files, all or nothing. A still reference (identity) is kept for every shot; a reference
the server makes from the clip is made again for each shot.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.db import transaction

from config.files import delete_unreferenced_on_commit
from datasets.jobs import queue
from datasets.limits import Limits
from datasets.models import ClipPair, DatasetFile, PairJob
from datasets.pairing import role_and_key
from datasets.services import (
    Incoming,
    UploadRefused,
    local_path,
    named_as_uploaded,
    run_checks,
    schedule_checks,
    store_files,
    sync_pairs,
)

MIN_FRAMES = 9  # the shortest clip the model trains on (8n+1)
ENCODE_TIMEOUT_S = 3600


class SplitRefused(ValueError):
    """Nothing was changed; the message says why, in plain words."""


@dataclass(frozen=True)
class Shot:
    start: float  # seconds
    end: float | None  # None: to the end of the clip

    @property
    def length(self) -> float | None:
        return None if self.end is None else self.end - self.start


def shots(cuts: list[float], duration: float, fps: float) -> tuple[list[Shot], int]:
    """The shots between `cuts`, and how many were too short to train on (fewer than MIN_FRAMES) and left out."""
    edges = [0.0, *sorted(c for c in cuts if 0 < c < duration), duration]
    kept, dropped = [], 0
    for start, end in itertools.pairwise(edges):
        if (end - start) * fps + 1e-6 < MIN_FRAMES:
            dropped += 1
        else:
            kept.append(Shot(start, None if end == duration else end))
    return kept, dropped


def target_shots(meta: dict[str, Any]) -> list[Shot]:
    """The shots a checked target holds that can be trained on (none recorded: none)."""
    if not meta.get("cuts") or not meta.get("fps"):
        return []
    return shots(meta["cuts"], float(meta["duration"]), float(meta["fps"]))[0]


def shot_name(name: str, number: int) -> str:
    """`name` with `_shotN` right after its pairing key, so the shot's target and reference pair again."""
    path = PurePosixPath(name)
    key = PurePosixPath(role_and_key(name)[1]).name
    stem = path.stem
    if not stem.lower().startswith(key.lower()):
        raise SplitRefused(f"{name} is not named so that its shots would pair again. Trim it in your editor.")
    return str(path.with_name(f"{stem[:len(key)]}_shot{number}{stem[len(key):]}{path.suffix}"))


def check_can_split(pair: ClipPair, started: bool = False) -> list[Shot]:
    """The shots `pair` would become; raises SplitRefused when it cannot be split here."""
    if not started and pair.status in (ClipPair.Status.PENDING, ClipPair.Status.CHECKING):
        raise SplitRefused(f"“{pair.name}” is being checked or split already: wait until it is done.")
    if pair.target_source is None or not pair.target_meta.get("cuts"):
        raise SplitRefused(f"“{pair.name}” has no cut to split at.")
    if pair.voice_file.name:  # one voice for several shots would pair with only one of them
        raise SplitRefused(f"“{pair.name}” has a voice clip: trim the clip in your editor into its shots and upload "
                           "each with its own voice clip.")
    if pair.dataset.files.filter(kind=DatasetFile.Kind.MANIFEST).exists():
        raise SplitRefused("This dataset pairs its clips by a manifest: trim the clip in your editor and list "
                           "each shot in the manifest.")
    found = target_shots(pair.target_meta)
    if len(found) < 2:
        raise SplitRefused(f"Only one shot of “{pair.name}” is long enough to train on ({MIN_FRAMES} frames or "
                           "more): trim the clip in your editor instead.")
    return found


def split_pair(pair: ClipPair, limits: Limits, started: bool = False) -> list[str]:
    """Replace `pair` by one pair per shot; returns the new pairs' names. Raises SplitRefused (nothing changed).
    `started`: start_split has marked the pair as being split (the worker's call)."""
    found = check_can_split(pair, started)
    target = pair.target_source
    assert target is not None
    reference = None if pair.reference_is_derived else pair.reference_source
    still = reference is not None and reference.kind == DatasetFile.Kind.IMAGE
    with tempfile.TemporaryDirectory(prefix="iclora-split-") as scratch, contextlib.ExitStack() as stack:
        items: list[Incoming] = []
        sources = [(target, local_path(target.file))]
        if reference is not None:
            sources.append((reference, local_path(reference.file)))
        for record, opener in sources:
            path = stack.enter_context(opener)
            for number, shot in enumerate(found, 1):
                name = shot_name(record.name, number)
                if record is reference and still:
                    stream = stack.enter_context(path.open("rb"))  # the same still for every shot
                else:
                    cut = _cut(path, shot, Path(scratch) / f"{len(items)}.mp4", record.name)
                    stream = stack.enter_context(cut.open("rb"))
                items.append(Incoming(name, stream, Path(stream.name).stat().st_size))
        return _replace(pair, [target, *([reference] if reference else [])], items, limits)


def _replace(pair: ClipPair, originals: list[DatasetFile], items: list[Incoming], limits: Limits) -> list[str]:
    dataset, caption, typed = pair.dataset, pair.caption, pair.caption_typed
    with transaction.atomic():
        try:
            store_files(dataset, items, limits)
        except UploadRefused as refused:
            raise SplitRefused(" ".join(refused.problems)) from refused
        names = [n for record in originals for n in record.stored_names]
        DatasetFile.objects.filter(pk__in=[record.pk for record in originals]).delete()
        sync_pairs(dataset)
        made = [p for p in dataset.pairs.all() if p.target_source and p.target_source.name in {i.name for i in items}]
        for new in made:  # the caption was written for the whole clip: each shot starts from it
            new.caption, new.caption_typed = caption, typed
            new.save(update_fields=["caption", "caption_typed"])
        delete_unreferenced_on_commit(names)
    schedule_checks(dataset, limits)
    return sorted(p.name for p in made)


def _cut(source: Path, shot: Shot, out: Path, name: str) -> Path:
    """Frames from `shot.start` up to (not including) `shot.end`, re-encoded: an input seek decodes from the
    keyframe before and drops what precedes, so a target and its reference are cut at the same frame. `name` is
    the clip's name as the creator uploaded it, for the message when it cannot be cut."""
    length = ["-t", f"{shot.length:.6f}"] if shot.length is not None else []
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", f"{shot.start:.6f}", "-i", str(source), *length,
           "-map", "0:v:0", "-an", "-c:v", "libx264", "-crf", "14", "-preset", "medium", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=ENCODE_TIMEOUT_S, check=False)
    if done.returncode != 0 or not out.exists():
        why = named_as_uploaded(done.stderr.strip(), source, name)[-200:] or "ffmpeg failed"
        raise SplitRefused(f"{name} could not be cut ({why}).")
    return out


def splitting_finding(count: int) -> dict[str, str]:
    return {"level": "info", "code": "splitting", "text": f"Cutting into {count} shots…"}


def start_split(pair: ClipPair) -> int:
    """Mark `pair` as being split and send the work to a `cpu` worker; returns the number of shots. Raises
    SplitRefused when it cannot be split (nothing changed)."""
    count = len(check_can_split(pair))
    with transaction.atomic():
        ClipPair.objects.filter(pk=pair.pk).update(status=ClipPair.Status.CHECKING,
                                                   messages=[splitting_finding(count)])
        queue(pair, PairJob.Action.SPLIT)
    return count


def run_split(pair_id: int, limits: Limits) -> list[str]:
    """The worker's part: split the pair, or put back its findings with why it could not be split."""
    pair = ClipPair.objects.select_related("dataset", "target_source", "reference_source").filter(pk=pair_id).first()
    if pair is None:
        return []  # already split (a task delivered twice), or removed meanwhile
    try:
        return split_pair(pair, limits, started=True)
    except SplitRefused as refused:
        pair = run_checks(pair)
        pair.messages = [*pair.messages, {"level": "warning", "code": "split_failed",
                                          "text": f"This pair could not be split: {refused}"}]
        pair.save(update_fields=["messages"])
        return []
