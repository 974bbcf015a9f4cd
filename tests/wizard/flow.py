"""The wizard's steps as a creator's browser drives them, for tests of the wizard and of the datasets behind it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from django.test import Client

from datasets.models import ClipPair, DatasetFile
from wizard.models import TrainingDraft


def start(client: Client, recipe: str = "restoration") -> TrainingDraft:
    response = client.post("/wizard/start/", {"recipe": recipe})
    draft = TrainingDraft.objects.latest("pk")
    assert response["Location"] == f"/wizard/{draft.pk}/clips/"
    return draft


def upload(client: Client, draft: TrainingDraft, files: dict[str, bytes | Path], **headers):
    """Post files as the page does; names with folders travel in `paths`, as the page script sends them."""
    handles = []
    for name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        handle = io.BytesIO(data)
        handle.name = Path(name).name
        handles.append(handle)
    return client.post(f"/wizard/{draft.pk}/clips/upload/", {"files": handles, "paths": list(files)}, **headers)


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def pairs(draft: TrainingDraft) -> dict[str, ClipPair]:
    return {p.name: p for p in draft.dataset.pairs.all()}


def target_of(pair: ClipPair) -> DatasetFile:
    assert pair.target_source is not None
    return pair.target_source


def reference_of(pair: ClipPair) -> DatasetFile:
    assert pair.reference_source is not None
    return pair.reference_source


def voice_of(pair: ClipPair) -> DatasetFile:
    assert pair.voice_source is not None
    return pair.voice_source


def settings_post(draft: TrainingDraft, **overrides) -> dict:
    values = {"preset": "balanced", "width": 128, "height": 96, "frames": 33, "fps": "24.0",
              "reference_downscale_factor": 1, "rank": 16, "learning_rate": 0.0002, "steps": 300,
              "first_frame_probability": 0.1, "checkpoint_every": 100, "validation_every": 100,
              "trigger_phrase": "ENHANCE QUALITY", "validation_prompts": "", "action": "save"}
    return {**values, **overrides}
