"""Moving files between the storage (local disk or S3) and a worker's scratch folder.

Workers read inputs and write outputs only through Django's storage API, so a GPU worker on another
machine needs nothing but the broker, the database and the bucket.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile

from config.delivery import stored_poster
from datasets.models import ClipPair, DatasetFile
from engine.media import write_poster
from training.models import Checkpoint, TrainingRun, ValidationSample

# The random prefix wizard.models and prep.models store uploads under, so two files of one name never meet.
STORED_PREFIX = re.compile(r"^[0-9a-f]{12}_")
MAX_INPUT_NAME_BYTES = 200  # file systems allow 255 bytes in a name; creators' names may be long, in any script
# Checkpoint field ← file the engine writes in each checkpoint folder.
CHECKPOINT_FILES = {
    # ComfyUI form with metadata (engine.train.CHECKPOINT_EXPORT): what creators download and try.
    "adapter_file": "export.safetensors",
    "training_file": "adapter.safetensors",  # training form: what a resumed run loads
    "state_file": "state.pt",
}


def run_workdir(run_id: int) -> Path:
    return Path(settings.DATA_DIR) / "work" / "runs" / str(run_id)


# Written in a run's working folder: which run it belongs to, beyond the id a database may give again.
WORKDIR_OWNER = "run.txt"


def claim_workdir(run: TrainingRun) -> Path:
    """The run's working folder, emptied first when it was left by another run with the same id (a database made
    again, a restored backup, SQLite giving the newest deleted id again): its checkpoints would otherwise be taken
    for this run's and resumed from, or refused as made with other settings."""
    folder = run_workdir(run.pk)
    owner = f"{run.pk} {run.created_at.isoformat()}\n"
    marker = folder / WORKDIR_OWNER
    if folder.exists() and (not marker.exists() or marker.read_text() != owner):
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(owner)
    return folder


def download(field: FieldFile, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.stat().st_size != field.size:
        with field.open("rb") as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, length=1024 * 1024)
    return target


def fetch_stored(name: str, folder: Path) -> Path:
    """Copy the stored file `name` (a storage name, as the wizard saves them) into `folder`."""
    if not default_storage.exists(name):
        raise DatasetNotReady(f"The validation clip “{uploaded_name(name)}” is no longer in storage.")
    target = folder / Path(name).name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        with default_storage.open(name, "rb") as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, length=1024 * 1024)
    return target


def uploaded_name(stored: str) -> str:
    """The name the creator uploaded the stored file `stored` under; without its record, the stored name less the
    random prefix uploads are stored with (wizard.models: `1e81df2bd467_walk.mp4` for walk.mp4)."""
    record = DatasetFile.objects.filter(file=stored).only("name").first()
    return record.name if record is not None else STORED_PREFIX.sub("", PurePosixPath(stored).name)


class DatasetNotReady(ValueError):
    """The dataset cannot be trained on yet; the message says which pair and why."""


def materialize_dataset(run: TrainingRun, workdir: Path) -> Path:
    """Copy the run's pairs to `workdir/inputs` and write the manifest the engine reads."""
    if run.dataset is None:
        raise DatasetNotReady("This run has no dataset.")
    pairs = list(run.dataset.pairs.order_by("position", "name").select_related("target_source", "reference_source",
                                                                               "voice_source"))
    if not pairs:
        raise DatasetNotReady(f"The dataset “{run.dataset.name}” has no clip pairs.")
    rows = []
    for pair in pairs:
        _check_ready(pair)
        inputs = workdir / "inputs" / str(pair.pk)
        target = download(pair.target_file, inputs / "target" / _input_name(pair, "target"))
        reference = download(pair.reference_file, inputs / "reference" / _input_name(pair, "reference"))
        row = {"caption": pair.caption, "video": str(target), "reference_video": str(reference)}
        if pair.voice_file:  # the pair's reference voice: engine.dataset reads ltx-trainer's `reference_audio`
            voice_name = PurePosixPath(pair.voice_source.name if pair.voice_source else pair.voice_file.name).name
            row["reference_audio"] = str(download(pair.voice_file, inputs / "voice" / voice_name))
        rows.append(row)
    manifest = workdir / "manifest.csv"
    voiced = any("reference_audio" in row for row in rows)
    with manifest.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["caption", "video", "reference_video",
                                                 *(["reference_audio"] if voiced else [])])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def manifest_rows_of(run: TrainingRun, pair_ids: list[int]) -> list[int]:
    """Rows (0-based) of the manifest `materialize_dataset` writes that hold the pairs `pair_ids`."""
    if run.dataset is None:
        return []
    order = list(run.dataset.pairs.order_by("position", "name").values_list("pk", flat=True))
    wanted = set(pair_ids)
    return [row for row, pk in enumerate(order) if pk in wanted]


def _suffix(field: FieldFile) -> str:
    return Path(field.name or "").suffix


def _input_name(pair: ClipPair, role: str) -> str:
    """The name a pair's clip gets in the worker's folder: the one the creator uploaded it under, since the engine
    names the files in what it reports (`pair 3 (walk.mp4 <- walk_ref.mp4): different lengths…`) and those
    messages reach the creator. The stored file's suffix is kept: a photo may have been stored converted."""
    field, source = ((pair.target_file, pair.target_source) if role == "target"
                     else (pair.reference_file, pair.reference_source))
    suffix, key = _suffix(field), PurePosixPath(pair.name).name
    if source is not None:
        name = PurePosixPath(source.name).stem + suffix
    elif role == "reference" and pair.reference_is_derived:
        name = f"{key}_{pair.derive_method or 'reference'}{suffix}"  # made on the server: named after its pair
    else:
        name = f"{key}_{role}{suffix}"
    return name if len(name.encode()) <= MAX_INPUT_NAME_BYTES else f"{role}{suffix}"


def _check_ready(pair: ClipPair) -> None:
    if not pair.target_file:
        raise DatasetNotReady(f"Pair “{pair.name}” has no target video.")
    if not pair.reference_file:
        raise DatasetNotReady(f"Pair “{pair.name}” has no reference video yet.")
    if pair.status == ClipPair.Status.ERROR:
        problems = "; ".join(m["text"] for m in pair.messages if m.get("level") == "error")
        raise DatasetNotReady(f"Pair “{pair.name}” cannot be used: {problems or 'it failed its checks'}.")


def store_checkpoint(run_id: int, step: int, folder: Path) -> Checkpoint:
    run = TrainingRun.objects.get(pk=run_id)
    checkpoint, _ = Checkpoint.objects.get_or_create(run=run, step=step)
    for field_name, file_name in CHECKPOINT_FILES.items():
        field: FieldFile = getattr(checkpoint, field_name)
        if field:
            field.delete(save=False)
        with (folder / file_name).open("rb") as handle:
            field.save(f"checkpoints/step_{step:06d}/{file_name}", File(handle), save=False)
    checkpoint.size_bytes = (folder / CHECKPOINT_FILES["adapter_file"]).stat().st_size
    checkpoint.save()
    _drop_old_checkpoints(run)
    return checkpoint


def _drop_old_checkpoints(run: TrainingRun) -> None:
    """Keep the newest `checkpoint.keep` in storage, and any that a continued run or an adapter uses."""
    keep = int(run.config.get("checkpoint", {}).get("keep", 3))
    for old in run.checkpoints.order_by("-step")[keep:]:
        if old.continued_by.exists() or hasattr(old, "adapter"):
            continue
        for field_name in CHECKPOINT_FILES:
            getattr(old, field_name).delete(save=False)
        old.delete()


def restore_latest_checkpoint(run: TrainingRun, checkpoints_dir: Path) -> int | None:
    """Put the newest stored checkpoint in `checkpoints_dir`, so a run resumes on any machine."""
    checkpoint = run.checkpoints.exclude(state_file="").order_by("-step").first() or run.resume_from
    if checkpoint is None:
        return None
    folder = checkpoints_dir / f"step_{checkpoint.step:06d}"
    if not (folder / "state.pt").exists():
        scratch = checkpoints_dir / f".download_step_{checkpoint.step:06d}"
        download(checkpoint.training_file, scratch / CHECKPOINT_FILES["training_file"])
        download(checkpoint.state_file, scratch / CHECKPOINT_FILES["state_file"])
        shutil.rmtree(folder, ignore_errors=True)
        scratch.rename(folder)
    return checkpoint.step


def store_samples(run_id: int, step: int, files: list[Path]) -> list[ValidationSample]:
    run = TrainingRun.objects.get(pk=run_id)
    prompts = list(run.config.get("validation", {}).get("prompts", []))
    samples = []
    for index, path in enumerate(files):
        sample = ValidationSample(run=run, step=step, prompt=prompts[index] if index < len(prompts) else "")
        with path.open("rb") as handle:
            sample.video_file.save(f"samples/step_{step:06d}_{index}{path.suffix}", File(handle), save=False)
        sample.save()
        stored_poster(sample.video_file, write_poster, local=path)  # here, from the local copy: no download later
        samples.append(sample)
    return samples


def delete_workdir(run_id: int) -> None:
    shutil.rmtree(run_workdir(run_id), ignore_errors=True)

