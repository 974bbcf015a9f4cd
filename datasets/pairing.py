"""Which uploaded file goes with which: pairs by file name or manifest, with every leftover named.

Pure functions over names, so every naming convention is testable without files:
`clip.mp4` + `clip_ref.mp4` / `clip_reference.mp4` (and `_control`, `_depth`, `_canny`, `_edges`, `_pose`),
`targets/clip.mp4` + `references/clip.mp4`, `clip_end.mp4` (target) + `clip_start.mp4` (reference),
captions in `clip.txt` beside the target, or rows of a manifest. Recipes that take a reference voice (Identity)
pair `clip_voice.wav` / `clip_audio.m4a`, `voices/clip.wav` (or `voice/`, `audio/`), any sound file named like its clip,
or a manifest's `reference_audio` column, with the clip.
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
VOICE_DIRS = frozenset({"voices", "voice", "audio"})
VOICE_SUFFIXES = ("_voice", "-voice", "_audio", "-audio")


@dataclass(frozen=True)
class Media:
    name: str  # relative path as uploaded
    kind: str  # "video", "image" or "audio"


@dataclass
class PlannedPair:
    name: str
    target: str
    reference: str  # "" when the server makes the reference from the target
    caption: str | None = None  # from a manifest row or a sidecar's name (text read later)
    caption_file: str | None = None
    voice: str = ""  # the reference voice (a sound file or a video whose sound is used), "" for none


@dataclass
class Pairing:
    pairs: list[PlannedPair] = field(default_factory=list)
    targets_without_reference: list[str] = field(default_factory=list)
    references_without_target: list[str] = field(default_factory=list)
    unused: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    voices_without_target: list[str] = field(default_factory=list)
    # Targets of pairs without a voice while other pairs have one (training with voices needs one for every pair).
    targets_without_voice: list[str] = field(default_factory=list)

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


def voice_key(name: str, kind: str) -> str | None:
    """The pairing key of a reference voice, or None when the file is not one. A voice is named after its clip with
    `_voice` or `_audio` (`walk_voice.wav`), lies in a `voices/` folder (`voices/walk.m4a`), or is any sound file
    (`walk.wav`); a video so named is a voice too (its sound is used)."""
    path = PurePosixPath(name)
    in_voice_dir = any(part.lower() in VOICE_DIRS for part in path.parent.parts)
    stem, lowered = path.stem, path.stem.lower()
    suffix = next((s for s in VOICE_SUFFIXES if lowered.endswith(s) and len(stem) > len(s)), "")
    if not (suffix or in_voice_dir or kind == "audio"):
        return None
    folders = [p for p in path.parent.parts if p.lower() not in VOICE_DIRS | TARGET_DIRS]
    stem = stem[: len(stem) - len(suffix)]
    return str(PurePosixPath(*folders, stem)) if folders else stem


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


def _pairs_from_manifest(rows: list[ManifestRow], media: list[Media], result: Pairing, derive: bool,
                         voices: dict[str, str] | None) -> set[str]:
    """Pairs of the manifest's rows; with `voices` (the recipe takes voices), a row's voice that was not uploaded is
    noted there (target -> why)."""
    names = {m.name.lower(): m.name for m in media}
    basenames: dict[str, list[str]] = {}
    for m in media:
        basenames.setdefault(PurePosixPath(m.name).name.lower(), []).append(m.name)
    used: set[str] = set()
    for row in rows:
        target = _match(row.video, row.folder, names, basenames)
        reference = _match(row.reference, row.folder, names, basenames)
        voice = _match(row.voice, row.folder, names, basenames) if voices is not None and row.voice else None
        if target and voices is not None and row.voice and voice is None:
            voices[target] = f"manifest row {row.number}: {row.voice} was not uploaded"
        if voice and target and (reference or derive):
            used.add(voice)
        if target and reference:
            result.pairs.append(PlannedPair(PurePosixPath(target).stem, target, reference, caption=row.caption,
                                            voice=voice or ""))
            used.update((target, reference))
        elif target and derive:
            result.pairs.append(PlannedPair(PurePosixPath(target).stem, target, "", caption=row.caption,
                                            voice=voice or ""))
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
               derive: bool = False, voices: bool = False) -> Pairing:
    """Pair uploaded media; `captions` are .txt names, `manifest` the rows of an uploaded manifest.

    With `derive` (the recipe's references are made on the server) a target without a reference is a pair
    whose reference is "" rather than an orphan; an uploaded reference still wins. With `voices` (the recipe takes
    a reference voice) each pair also gets the voice named after its target, if there is one; without, sound files
    are left unused.
    """
    result = Pairing()
    missing_voices: dict[str, str] = {}
    used = (_pairs_from_manifest(list(manifest), media, result, derive, missing_voices if voices else None)
            if manifest else set())
    targets: dict[str, str] = {}
    references: dict[str, str] = {}
    voice_files: dict[str, str] = {}
    display: dict[str, str] = {}
    for m in media:
        if m.name in used:
            continue
        voice = voice_key(m.name, m.kind) if voices else None
        if voice is not None:
            if voice.lower() in voice_files:
                result.unused.append((m.name, f"another voice clip is also for “{voice}” "
                                      f"({voice_files[voice.lower()]})"))
            else:
                voice_files[voice.lower()] = m.name
            continue
        if m.kind == "audio":
            result.unused.append((m.name, "a sound file: only the Identity recipe uses voice clips"))
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
    _give_voices(result, voice_files, missing_voices)
    result.pairs.sort(key=lambda p: p.name.lower())
    return result


def _give_voices(result: Pairing, voice_files: dict[str, str], missing: dict[str, str]) -> None:
    """Each pair without a voice from its manifest row gets the voice named after its target; voices left over have
    no clip, and once any pair has a voice, every pair without one is named (training with voices needs all), as is
    one whose manifest row names a voice that was not uploaded."""
    for pair in result.pairs:
        if not pair.voice:
            pair.voice = voice_files.pop(role_and_key(pair.target)[1].lower(), "")
    result.voices_without_target.extend(voice_files.values())
    voiced = any(pair.voice for pair in result.pairs)
    for pair in result.pairs:
        if not pair.voice and pair.target in missing:
            result.targets_without_voice.append(f"{pair.target} ({missing[pair.target]})")
        elif not pair.voice and voiced:
            result.targets_without_voice.append(pair.target)
