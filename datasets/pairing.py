"""Which uploaded file goes with which: pairs by file name or manifest, with every leftover named.

Pure functions over names, so every naming convention is testable without files:
`clip.mp4` + `clip_ref.mp4` / `clip_reference.mp4` (and `_control`, `_depth`, `_canny`, `_edges`, `_pose`),
`targets/clip.mp4` + `references/clip.mp4`, `clip_end.mp4` (target) + `clip_start.mp4` (reference),
captions in `clip.txt` beside the target, or rows of a manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from datasets.manifest import ManifestRow

TARGET_DIRS = frozenset({"targets", "target", "videos", "outputs", "output"})
REFERENCE_DIRS = frozenset({"references", "reference", "refs", "ref", "controls", "control", "conditions", "inputs"})
CAPTION_DIRS = frozenset({"captions", "caption", "prompts", "texts"})
REFERENCE_SUFFIXES = ("_reference", "-reference", "_ref", "-ref", "_control", "_depth", "_canny", "_edges",
                      "_pose", "_start")
TARGET_SUFFIXES = ("_target", "-target", "_end")


@dataclass(frozen=True)
class Media:
    name: str  # relative path as uploaded
    kind: str  # "video" or "image"


@dataclass
class PlannedPair:
    name: str
    target: str
    reference: str  # "" when the server makes the reference from the target
    caption: str | None = None  # from a manifest row or a sidecar's name (text read later)
    caption_file: str | None = None


@dataclass
class Pairing:
    pairs: list[PlannedPair] = field(default_factory=list)
    targets_without_reference: list[str] = field(default_factory=list)
    references_without_target: list[str] = field(default_factory=list)
    unused: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    @property
    def has_orphans(self) -> bool:
        return bool(self.targets_without_reference or self.references_without_target)

    @property
    def derived(self) -> list[PlannedPair]:
        return [p for p in self.pairs if not p.reference]


def role_and_key(name: str) -> tuple[str, str]:
    """("target" | "reference", pairing key) of a media or caption file."""
    path = PurePosixPath(name)
    role = "target"
    folders = []
    for part in path.parent.parts:
        lowered = part.lower()
        if lowered in REFERENCE_DIRS:
            role = "reference"
        elif lowered in TARGET_DIRS or lowered in CAPTION_DIRS:
            pass
        else:
            folders.append(part)
    stem = path.stem
    lowered = stem.lower()
    for suffix in REFERENCE_SUFFIXES:
        if lowered.endswith(suffix) and len(stem) > len(suffix):
            role, stem = "reference", stem[: -len(suffix)]
            break
    else:
        for suffix in TARGET_SUFFIXES:
            if lowered.endswith(suffix) and len(stem) > len(suffix):
                stem = stem[: -len(suffix)]
                break
    return role, str(PurePosixPath(*folders, stem)) if folders else stem


def _match(reference: str, folder: str, names: dict[str, str], basenames: dict[str, list[str]]) -> str | None:
    """An uploaded file a manifest path means: the path from the manifest's folder, the same relative path, else
    a unique same basename."""
    wanted = reference.replace("\\", "/")
    while wanted.startswith("./"):
        wanted = wanted[2:]
    for path in (f"{folder}/{wanted}" if folder else wanted, wanted):
        if path.lower() in names:
            return names[path.lower()]
    candidates = basenames.get(PurePosixPath(wanted).name.lower(), [])
    return candidates[0] if len(candidates) == 1 else None


def _pairs_from_manifest(rows: list[ManifestRow], media: list[Media], result: Pairing, derive: bool) -> set[str]:
    names = {m.name.lower(): m.name for m in media}
    basenames: dict[str, list[str]] = {}
    for m in media:
        basenames.setdefault(PurePosixPath(m.name).name.lower(), []).append(m.name)
    used: set[str] = set()
    for row in rows:
        target = _match(row.video, row.folder, names, basenames)
        reference = _match(row.reference, row.folder, names, basenames)
        if target and reference:
            result.pairs.append(PlannedPair(PurePosixPath(target).stem, target, reference, caption=row.caption))
            used.update((target, reference))
        elif target and derive:
            result.pairs.append(PlannedPair(PurePosixPath(target).stem, target, "", caption=row.caption))
            used.add(target)
        elif target:
            result.targets_without_reference.append(f"{target} (manifest row {row.number}: "
                                                    f"{row.reference} was not uploaded)")
            used.add(target)
        elif reference:
            result.references_without_target.append(f"{reference} (manifest row {row.number}: "
                                                    f"{row.video} was not uploaded)")
            used.add(reference)
        else:
            result.unused.append((f"manifest row {row.number}", f"neither {row.video} nor {row.reference} "
                                  "was uploaded"))
    return used


def pair_files(media: list[Media], captions: Sequence[str] = (), manifest: Sequence[ManifestRow] = (),
               derive: bool = False) -> Pairing:
    """Pair uploaded media; `captions` are .txt names, `manifest` the rows of an uploaded manifest.

    With `derive` (the recipe's references are made on the server) a target without a reference is a pair
    whose reference is "" rather than an orphan; an uploaded reference still wins.
    """
    result = Pairing()
    used = _pairs_from_manifest(list(manifest), media, result, derive) if manifest else set()
    targets: dict[str, str] = {}
    references: dict[str, str] = {}
    display: dict[str, str] = {}
    for m in media:
        if m.name in used:
            continue
        role, key = role_and_key(m.name)
        side = references if role == "reference" else targets
        if key.lower() in side:
            result.unused.append((m.name, f"another {role} is also called “{key}” ({side[key.lower()]})"))
            continue
        side[key.lower()] = m.name
        display.setdefault(key.lower(), key)
    caption_files = {role_and_key(c)[1].lower(): c for c in captions}
    taken_names = {p.name.lower() for p in result.pairs}
    for key, target in targets.items():
        reference = references.pop(key, None)
        if reference is None and not derive:
            result.targets_without_reference.append(target)
            continue
        name = display[key]
        if name.lower() in taken_names:
            name = f"{name} ({target})"
        result.pairs.append(PlannedPair(name, target, reference or "", caption_file=caption_files.get(key)))
    result.references_without_target.extend(references.values())
    result.pairs.sort(key=lambda p: p.name.lower())
    return result
