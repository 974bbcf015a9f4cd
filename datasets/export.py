"""A dataset as one ZIP, to keep or to train elsewhere.

Inside, one folder named after the dataset: the clips under `targets/` and `references/` (a derived reference
is the depth, edge or pose video made on the server) and `dataset.jsonl`, a manifest in ltx-trainer's column names
(`caption`, `media_path`, `reference_path`, paths relative to it) that ltx-trainer's `process_dataset.py` (with
`--reference-column reference_path`), `python -m training prepare` and this wizard's own upload all read. Captions
carry the trigger phrase in front, as training puts it. Pairs with a reference voice (Identity) have it under `voices/`
and in the manifest's `reference_audio` column (ltx-trainer's name for it).

Only pairs that can train are in it. The ZIP is made while it is sent, its members stored (videos do not
compress), so no clip is ever held whole in memory or written to a scratch file.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.db.models.fields.files import FieldFile

from datasets.models import ClipPair, Dataset
from datasets.services import voice_findings
from engine.captions import with_trigger

CHUNK = 1024 * 1024
MANIFEST = "dataset.jsonl"


@dataclass(frozen=True)
class ExportedPair:
    caption: str
    target: FieldFile
    reference: FieldFile
    media_path: str  # path in the ZIP, relative to the manifest
    reference_path: str
    voice: FieldFile | None = None
    reference_audio: str = ""


def folder_name(dataset: Dataset) -> str:
    """The dataset's name as a file name any system accepts."""
    name = re.sub(r"[^\w\- ]+", "", dataset.name).strip().replace(" ", "-")
    return name or f"dataset-{dataset.pk}"


def exported_pairs(dataset: Dataset) -> tuple[list[ExportedPair], list[ClipPair]]:
    """The pairs that go in the ZIP, and those left out (not ready to train, or a file missing)."""
    included: list[ExportedPair] = []
    left_out: list[ClipPair] = []
    pairs = list(dataset.pairs.all())
    voiced = any(pair.voice_file.name for pair in pairs)
    for pair in pairs:
        unvoiced = voiced and any(f.level == "error" for f in voice_findings(pair))
        if pair.blocks_launch or unvoiced or not pair.target_file.name or not pair.reference_file.name:
            left_out.append(pair)
            continue
        included.append(ExportedPair(
            caption=with_trigger(dataset.trigger_phrase, pair.caption),
            target=pair.target_file,
            reference=pair.reference_file,
            media_path=_member("targets", pair.name, pair.target_file),
            reference_path=_member("references", pair.name, pair.reference_file),
            voice=pair.voice_file if pair.voice_file.name else None,
            reference_audio=_member("voices", pair.name, pair.voice_file) if pair.voice_file.name else "",
        ))
    return included, left_out


def _member(folder: str, pair_name: str, stored: FieldFile) -> str:
    # The pair's name, not the stored one (which storage may have suffixed): the same name on both sides, so
    # uploading the ZIP again pairs by folder even without the manifest.
    return f"{folder}/{pair_name}{PurePosixPath(stored.name or '').suffix.lower()}"


def manifest(pairs: list[ExportedPair]) -> bytes:
    rows = ({"caption": p.caption, "media_path": p.media_path, "reference_path": p.reference_path,
             **({"reference_audio": p.reference_audio} if p.reference_audio else {})} for p in pairs)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


class _Pipe:
    """A write-only, unseekable stream whose bytes are taken out as they arrive (zipfile then writes data
    descriptors instead of seeking back)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_chunks(dataset: Dataset, pairs: list[ExportedPair]) -> Iterator[bytes]:
    """The ZIP of `pairs`, a chunk at a time."""
    folder = folder_name(dataset)
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{folder}/{MANIFEST}", manifest(pairs), compress_type=zipfile.ZIP_DEFLATED)
        yield pipe.take()
        for pair in pairs:
            members = [(pair.media_path, pair.target), (pair.reference_path, pair.reference)]
            if pair.voice is not None:
                members.append((pair.reference_audio, pair.voice))
            for path, stored in members:
                source = stored.storage.open(stored.name or "", "rb")
                with source, archive.open(f"{folder}/{path}", "w", force_zip64=True) as member:
                    while chunk := source.read(CHUNK):
                        member.write(chunk)
                        yield pipe.take()
                yield pipe.take()
    yield pipe.take()
