"""Lightricks-style dataset manifests (CSV, JSON or JSONL with caption, media_path, reference_path)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from engine.columns import CAPTION_KEYS, REFERENCE_AUDIO_KEYS, REFERENCE_KEYS, VIDEO_KEYS


class ManifestError(ValueError):
    """A manifest that cannot be read, with the reason in plain words."""


@dataclass(frozen=True)
class ManifestRow:
    number: int  # 1-based, as a creator counts rows
    caption: str
    video: str
    reference: str
    folder: str = ""  # the manifest's own folder in the upload: its paths are relative to it
    voice: str = ""  # the pair's reference voice, when the manifest has one


def _pick(row: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = row.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _rows(text: str, suffix: str) -> list[dict[str, Any]]:
    if suffix == ".csv":
        return list(csv.DictReader(io.StringIO(text)))
    if suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("pairs", data.get("data", []))
    if not isinstance(data, list):
        raise ManifestError("the JSON must be a list of rows")
    return data


def parse_manifest(text: str, name: str) -> list[ManifestRow]:
    suffix = PurePosixPath(name).suffix.lower()
    try:
        raw = _rows(text, suffix)
    except (json.JSONDecodeError, csv.Error) as err:
        raise ManifestError(f"{name} could not be read: {err}") from err
    except RecursionError as err:
        # The JSON decoder recurses once per bracket: a file of nested brackets (a few hundred kilobytes fit in the
        # text limit) exhausts the stack. The decoder unwinds cleanly, so this is an answer, not a crash.
        raise ManifestError(f"{name} is nested too deeply to be a list of clip pairs: a manifest is a list of rows, "
                            "each with a caption, a video and a reference. Check that this is the right file."
                            ) from err
    parent = str(PurePosixPath(name).parent)
    folder = "" if parent == "." else parent
    rows = []
    for number, row in enumerate(raw, start=1):
        if not isinstance(row, dict):
            raise ManifestError(f"{name}, row {number}: expected columns caption, media_path, reference_path")
        video, reference = _pick(row, VIDEO_KEYS), _pick(row, REFERENCE_KEYS)
        if not video:
            raise ManifestError(f"{name}, row {number}: the video column ({' or '.join(VIDEO_KEYS)}) is empty or "
                                "missing")
        if not reference:
            raise ManifestError(f"{name}, row {number}: the reference column ({', '.join(REFERENCE_KEYS)}) is empty "
                                "or missing")
        voice = _pick(row, REFERENCE_AUDIO_KEYS)
        rows.append(ManifestRow(number, _pick(row, CAPTION_KEYS), video, reference, folder, voice))
    if not rows:
        raise ManifestError(f"{name} lists no pairs")
    return rows
