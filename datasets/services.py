"""Dataset operations behind the views: store uploads atomically, pair files, run checks."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from config.files import delete_unreferenced_on_commit
from datasets import zipsafe
from datasets.jobs import queue
from datasets.limits import Limits
from datasets.manifest import ManifestError, ManifestRow, parse_manifest
from datasets.models import ClipPair, Dataset, DatasetFile, PairJob, UploadPiece
from datasets.pairing import Media, Pairing, pair_files
from datasets.recipes import get_recipe
from datasets.signals import clips_arrived
from datasets.sniff import Kind, sniff_stream, text_role
from datasets.validation import (
    ClipCheck,
    Finding,
    check_clip,
    check_pair,
    check_voice,
    status_of,
    voice_pair_findings,
)
from engine.media import MAX_PHOTO_BYTES, fps_text, normalized_photo, standard_range

CHUNK = 1024 * 1024
MAX_TEXT_BYTES = 1024 * 1024  # captions and manifests are small; anything bigger is not one


@dataclass(frozen=True)
class Incoming:
    """One file to store: its name as the creator knows it and an open binary stream."""

    name: str
    stream: IO[bytes]
    size: int


@dataclass
class UploadOutcome:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


class UploadRefused(ValueError):
    """Nothing was stored; `problems` says, per file, why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def clean_name(name: str) -> str:
    """A relative POSIX path without empty, '.' or '..' parts (browsers and ZIPs both send names)."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "..", "/")]
    return str(PurePosixPath(*parts)) if parts else "unnamed"


MAX_NAME = 255  # ClipPair.name's length: a pair is named after its clip's path (DatasetFile.name allows 500)


def name_problem(name: str) -> str | None:
    """Why a file's (cleaned) name cannot be kept, or None."""
    if len(name) > MAX_NAME:
        return (f"{PurePosixPath(name).name[:60]}… has a name of {len(name)} characters with its folders; the limit "
                f"is {MAX_NAME}. Rename it, or put it in fewer folders.")
    return None


def _classify(item: Incoming, limits: Limits) -> tuple[str | None, str | None]:
    """(DatasetFile kind, None) or (None, why it is refused)."""
    if problem := name_problem(item.name):
        return None, problem
    if item.size > limits.max_file_bytes:
        return None, f"{item.name} is {item.size / 1024**2:.0f} MB; the limit is {limits.max_file_bytes // 1024**2} MB."
    kind = sniff_stream(item.stream)
    if kind in (Kind.VIDEO, Kind.IMAGE, Kind.AUDIO):  # sound: voice clips (pairing leaves them unused elsewhere)
        return kind.value, None
    if kind is Kind.TEXT and text_role(item.name) and item.size <= MAX_TEXT_BYTES:
        role = text_role(item.name)
        if role == "manifest":
            try:
                parse_manifest(_read_text(item.stream), item.name)
            except (ManifestError, UnicodeDecodeError) as err:
                return None, f"The manifest {err}"
        return role, None
    if kind is Kind.ZIP:
        return None, f"{item.name} is a ZIP inside a ZIP. Unpack it and zip the clips once."
    suffix = PurePosixPath(item.name).suffix.lower()
    looks = "text" if kind is Kind.TEXT else "unknown data"
    return None, (f"{item.name} is not a video, image, caption (.txt), manifest (.csv, .json, .jsonl) or sound "
                  f"file: its content is {looks}{' despite the ' + suffix + ' name' if suffix else ''}.")


def _read_text(stream: IO[bytes]) -> str:
    stream.seek(0)
    text = stream.read(MAX_TEXT_BYTES + 1).decode("utf-8-sig")
    stream.seek(0)
    return text


def _save(dataset: Dataset, item: Incoming, kind: str) -> DatasetFile:
    digest = hashlib.sha256()
    item.stream.seek(0)
    with tempfile.SpooledTemporaryFile(max_size=CHUNK * 4) as spool:
        while chunk := item.stream.read(CHUNK):
            digest.update(chunk)
            spool.write(chunk)
        size, stored_name = item.size, PurePosixPath(item.name).name
        if kind == Kind.IMAGE.value and item.size <= MAX_PHOTO_BYTES:
            spool.seek(0)
            if (normalized := normalized_photo(spool.read())) is not None:  # HEIC, or a photo stored sideways
                data, suffix = normalized
                spool.seek(0)
                spool.truncate()
                spool.write(data)
                size, stored_name = len(data), PurePosixPath(stored_name).stem + suffix
        spool.seek(0)
        # The name and digest stay the upload's own: pairing goes by the name the creator gave, and the same photo
        # sent twice is still found as a duplicate.
        record = DatasetFile(dataset=dataset, name=item.name, kind=kind, size=size, sha256=digest.hexdigest())
        record.file.save(stored_name, File(spool), save=False)
    return record


def store_incoming(dataset: Dataset, items: list[Incoming], limits: Limits) -> UploadOutcome:
    """ZIPs (by content) are unpacked; everything else is stored as is. All or nothing per request."""
    zips = [item for item in items if sniff_stream(item.stream) is Kind.ZIP]
    others = [item for item in items if item not in zips]
    outcome = UploadOutcome()
    if others:
        outcome = store_files(dataset, others, limits)
    for item in zips:
        result = store_zip(dataset, item.stream, limits)
        outcome.added += result.added
        outcome.replaced += result.replaced
        outcome.ignored += result.ignored
    return outcome


def store_files(dataset: Dataset, items: list[Incoming], limits: Limits) -> UploadOutcome:
    """Store every item or none: files already written are removed again if anything fails."""
    outcome = UploadOutcome()
    problems: list[str] = []
    accepted: list[tuple[Incoming, str]] = []
    seen: set[str] = set()
    for item in items:
        if zipsafe.is_ignored(item.name):
            outcome.ignored.append(item.name)
            continue
        if item.name in seen:
            problems.append(f"Two files in this upload are called {item.name}. Rename one, or put them in "
                            "targets/ and references/ folders inside a ZIP.")
            continue
        seen.add(item.name)
        kind, problem = _classify(item, limits)
        if problem:
            problems.append(problem)
        elif kind:
            accepted.append((item, kind))
    existing = {f.name: f for f in dataset.files.all()}
    total = sum(f.size for f in existing.values() if f.name not in {i.name for i, _ in accepted})
    total += sum(i.size for i, _ in accepted)
    if total > limits.max_dataset_bytes:
        problems.append(f"The dataset would hold {total / 1024**3:.1f} GB; the limit is "
                        f"{limits.max_dataset_bytes / 1024**3:.0f} GB per dataset.")
    if problems:
        raise UploadRefused(problems)
    written: list[str] = []
    try:
        with transaction.atomic():
            for item, kind in accepted:
                old = existing.get(item.name)
                if old is not None:
                    old.delete()
                    delete_unreferenced_on_commit(old.stored_names)
                    outcome.replaced.append(item.name)
                else:
                    outcome.added.append(item.name)
                record = _save(dataset, item, kind)
                written.append(record.file.name)
                record.save()
            sync_pairs(dataset)
            dataset.save(update_fields=["updated_at"])
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return outcome


def store_zip(dataset: Dataset, zip_stream: IO[bytes], limits: Limits) -> UploadOutcome:
    """Check the archive, unpack it to a scratch folder and store its files with their archive paths."""
    with tempfile.TemporaryDirectory(prefix="iclora-zip-") as scratch:
        zip_path = Path(scratch) / "upload.zip"
        zip_stream.seek(0)
        with zip_path.open("wb") as out:
            shutil.copyfileobj(zip_stream, out, CHUNK)
        entries = zipsafe.extract(zip_path, Path(scratch) / "files", limits)
        with contextlib.ExitStack() as stack:
            items = [Incoming(clean_name(e.name), stack.enter_context(e.path.open("rb")), e.size) for e in entries]
            return store_files(dataset, items, limits)


def _manifest_rows(files: list[DatasetFile]) -> list[ManifestRow]:
    rows: list[ManifestRow] = []
    for record in files:
        if record.kind == DatasetFile.Kind.MANIFEST:
            with record.file.open("rb") as handle, contextlib.suppress(ManifestError, UnicodeDecodeError):
                rows.extend(parse_manifest(handle.read().decode("utf-8-sig"), record.name))
    return rows


def plan_pairs(dataset: Dataset, files: list[DatasetFile] | None = None) -> Pairing:
    files = list(dataset.files.all()) if files is None else files
    media = [Media(f.name, f.kind) for f in files
             if f.kind in (DatasetFile.Kind.VIDEO, DatasetFile.Kind.IMAGE, DatasetFile.Kind.AUDIO)]
    captions = [f.name for f in files if f.kind == DatasetFile.Kind.CAPTION]
    recipe = get_recipe(dataset.recipe)
    return pair_files(media, captions, _manifest_rows(files), derive=recipe.reference_derivable,
                      voices=recipe.accepts_voice)


def _sidecar_text(record: DatasetFile | None) -> str:
    if record is None:
        return ""
    with record.file.open("rb") as handle:
        return handle.read(MAX_TEXT_BYTES).decode("utf-8-sig", "replace").strip()


def sync_pairs(dataset: Dataset) -> Pairing:
    """Make the dataset's ClipPair rows match the pairing of its files; changed pairs are checked again."""
    files = list(dataset.files.all())
    by_name = {f.name: f for f in files}
    pairing = plan_pairs(dataset, files)
    existing = {p.name: p for p in dataset.pairs.all()}
    for position, plan in enumerate(pairing.pairs):
        target, reference = by_name[plan.target], by_name.get(plan.reference)
        voice = by_name.get(plan.voice)
        pair = existing.pop(plan.name, None) or ClipPair(dataset=dataset, name=plan.name)
        derived = reference is None
        if (pair.target_source_id, pair.reference_source_id, pair.reference_is_derived, pair.voice_source_id) != (
                target.pk, reference.pk if reference else None, derived, voice.pk if voice else None):
            if (pair.target_source_id, pair.reference_source_id, pair.reference_is_derived) != (
                    target.pk, reference.pk if reference else None, derived):
                pair.extraction = None  # a voice added or changed keeps the reference made from the clip
            pair.target_source, pair.reference_source, pair.reference_is_derived = target, reference, derived
            pair.voice_source = voice
            pair.target_file.name = target.file.name
            pair.reference_file.name = reference.file.name if reference else ""
            pair.voice_file.name = voice.file.name if voice else ""
            pair.status, pair.messages, pair.checked_at = ClipPair.Status.PENDING, [], None
            pair.target_meta, pair.reference_meta, pair.voice_meta = {}, {}, {}
        if not pair.caption_typed:
            sidecar = by_name.get(plan.caption_file) if plan.caption_file else None
            pair.caption = plan.caption if plan.caption is not None else _sidecar_text(sidecar)
        pair.position = position
        pair.save()
    ClipPair.objects.filter(pk__in=[p.pk for p in existing.values()]).delete()
    return pairing


@contextlib.contextmanager
def local_path(field_file: FieldFile) -> Iterator[Path]:
    """A path ffmpeg can read: the file itself on local storage, else a temporary copy."""
    try:
        yield Path(field_file.path)
        return
    except NotImplementedError:
        pass
    suffix = PurePosixPath(field_file.name or "").suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy, field_file.open("rb") as source:
        shutil.copyfileobj(source, copy, CHUNK)
        copy.flush()
        yield Path(copy.name)


def run_checks(pair: ClipPair) -> ClipPair:
    """Probe and fully decode both clips, apply the pair rules and save what was found."""
    recipe = get_recipe(pair.dataset.recipe)
    sources = (pair.target_source_id, pair.reference_source_id, pair.reference_file.name, pair.voice_source_id)
    with local_path(pair.target_file) as target_path, local_path(pair.reference_file) as reference_path:
        target = check_clip(target_path, "target", "video")
        reference = check_clip(reference_path, "reference", "image" if recipe.reference_is_image else "video")
        voice = _check_voice_of(pair)
        for source, path, check in ((pair.target_source, target_path, target),
                                    (pair.reference_source, reference_path, reference)):
            if source is not None and check.usable and check.meta.get("frames", 0) > 1:
                make_poster(source, path, float(check.meta.get("duration", 0)))
                make_preview(source, path, check.meta)
    findings: list[Finding] = [*target.findings, *reference.findings, *voice.findings]
    if target.usable and reference.usable:
        findings.extend(check_pair(target.meta, reference.meta, recipe.reference_is_image))
    with transaction.atomic():
        current = ClipPair.objects.select_for_update().filter(pk=pair.pk).first()
        if current is None or (current.target_source_id, current.reference_source_id,
                               current.reference_file.name, current.voice_source_id) != sources:
            return current or pair  # files changed while checking: the newer check wins
        current.target_meta, current.reference_meta, current.voice_meta = target.meta, reference.meta, voice.meta
        current.messages = [f.as_dict() for f in findings]
        current.status = status_of(findings)
        current.checked_at = timezone.now()
        current.save(update_fields=["target_meta", "reference_meta", "voice_meta", "messages", "status",
                                    "checked_at"])
    return current


def _check_voice_of(pair: ClipPair) -> ClipCheck:
    """The pair's reference voice checked (nothing found when it has none)."""
    if not pair.voice_file.name:
        return ClipCheck()
    with local_path(pair.voice_file) as path:
        return check_voice(path)


def voice_findings(pair: ClipPair) -> list[Finding]:
    """In a dataset with voices: a pair without one, and a target without its own sound (either keeps the pair from
    training; the Clips page shows them, the dataset ZIP leaves the pair out)."""
    found = []
    if not pair.voice_file.name:
        stem = PurePosixPath(pair.target_source.name if pair.target_source else pair.name).stem
        found.append(Finding(
            "error", "no_voice",
            f"No voice clip for this pair, and other pairs have one: training with voices needs one for every pair. "
            f"Upload {stem}_voice.wav (5–15 s of the person speaking), or remove the voice clips to train the face "
            "only."))
    if pair.status not in (ClipPair.Status.PENDING, ClipPair.Status.CHECKING):
        found.extend(voice_pair_findings(pair.target_meta, voiced=True))
    return found


def pair_bytes(pair: ClipPair) -> int:
    return sum(s.size for s in (pair.target_source, pair.reference_source, pair.voice_source) if s is not None)


def schedule_checks(dataset: Dataset, limits: Limits) -> None:
    """Check small pairs now; send big ones to a `cpu` worker (decoding a long clip takes a while)."""
    clips_arrived.send(sender=Dataset, dataset=dataset)
    pending = (dataset.pairs.filter(status=ClipPair.Status.PENDING).exclude(reference_file="")
               .select_related("target_source", "reference_source", "voice_source"))
    for pair in pending:
        if pair_bytes(pair) <= limits.inline_check_bytes:
            run_checks(pair)
        else:
            ClipPair.objects.filter(pk=pair.pk).update(status=ClipPair.Status.CHECKING)
            queue(pair, PairJob.Action.CHECK)


def delete_file(record: DatasetFile) -> None:
    dataset = record.dataset
    with transaction.atomic():
        record.delete()
        sync_pairs(dataset)
        delete_unreferenced_on_commit(record.stored_names)  # a Studio generation may use it as its reference


# What every current browser plays: H.264 in standard range (HEVC plays in Safari and only some others; HDR looks
# washed out on most screens; ProRes, MPEG-2 and the rest play nowhere).
PLAYABLE_CODECS = {"h264", "vp8", "vp9", "av1"}
PREVIEW_WIDTH = 640


def make_poster(record: DatasetFile, path: Path, seconds: float) -> None:
    """A JPEG still from a third of the way in: previews show a picture before anything plays."""
    if record.poster or record.kind != DatasetFile.Kind.VIDEO:
        return
    stem = PurePosixPath(record.name).stem
    _store_ffmpeg_output(record, "poster", f"{stem}.jpg", timeout=120, args=[
        "-ss", f"{max(0.0, seconds / 3):.2f}", "-i", str(path), "-frames:v", "1",
        "-vf", standard_range(path, f"scale='min({PREVIEW_WIDTH},iw)':-2"), "-q:v", "4"])


def needs_preview(meta: dict[str, Any]) -> bool:
    return meta.get("codec") not in PLAYABLE_CODECS or bool(meta.get("hdr"))


def make_preview(record: DatasetFile, path: Path, meta: dict[str, Any]) -> None:
    """A small H.264 copy in standard colours, for the page's players, when a browser may not play the clip.

    Best effort, like the poster: without it the page offers the original.
    """
    if record.preview or record.kind != DatasetFile.Kind.VIDEO or not needs_preview(meta):
        return
    scale = f"scale='min({PREVIEW_WIDTH},iw)':-2,format=yuv420p"
    _store_ffmpeg_output(record, "preview", f"{PurePosixPath(record.name).stem}-preview.mp4", timeout=1800, args=[
        "-i", str(path), "-map", "0:v:0", "-vf", standard_range(path, scale),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-movflags", "+faststart", "-an"])


def _store_ffmpeg_output(record: DatasetFile, field: str, name: str, timeout: int, args: list[str]) -> None:
    """Run ffmpeg with `args` into a scratch file and keep it as `record.<field>` named `name`; nothing on
    failure (posters and previews are best effort)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / name
        cmd = ["ffmpeg", "-nostdin", "-v", "error", *args, str(out)]
        if subprocess.run(cmd, capture_output=True, check=False, timeout=timeout).returncode or not out.exists():
            return
        stored = getattr(record, field)
        with out.open("rb") as handle:
            stored.save(name, File(handle), save=False)
    DatasetFile.objects.filter(pk=record.pk).update(**{field: stored.name})


def meta_summary(meta: dict[str, Any]) -> str:
    if not meta:
        return ""
    if meta.get("frames") == 1:
        return f"{meta['width']}×{meta['height']} still"
    size = f"{meta['width']}×{meta['height']}"
    return f"{size} · {fps_text(meta['fps'])} fps · {meta['frames']} frames · {meta['duration']:.1f} s"


def has_voices(dataset: Dataset) -> bool:
    """Whether the dataset's pairs have reference voices (its recipe takes them): then the adapter learns the voice
    too, from the clips' own sound."""
    return get_recipe(dataset.recipe).accepts_voice and dataset.pairs.exclude(voice_file="").exists()


def voice_summary(meta: dict[str, Any]) -> str:
    if not meta.get("duration"):
        return ""
    return f"{meta['duration']:.1f} s · {meta['sample_rate'] / 1000:g} kHz" if meta.get("sample_rate") else (
        f"{meta['duration']:.1f} s")


class DatasetInUse(ValueError):
    """A dataset that runs were trained on: they keep a record of it, so it stays until they are deleted."""


def delete_dataset(dataset: Dataset) -> None:
    """Delete a dataset with its pairs, drafts and uploaded files (the files once the deletion commits)."""
    with transaction.atomic():
        runs = list(dataset.runs.order_by("pk").values_list("name", flat=True))
        if runs:
            shown = ", ".join(f"“{name}”" for name in runs[:3]) + (" and more" if len(runs) > 3 else "")
            raise DatasetInUse(
                f"{len(runs)} training run{'s were' if len(runs) != 1 else ' was'} trained on this dataset ({shown}). "
                "Delete those runs first, from their pages; the adapters they made stay."
            )
        names = [name for record in dataset.files.all() for name in record.stored_names]
        names += UploadPiece.objects.filter(upload__dataset=dataset).values_list("file", flat=True)
        dataset.delete()
        delete_unreferenced_on_commit(names)  # a Studio generation may use one of its clips as its reference


def named_as_uploaded(message: str, read: Path | None, name: str) -> str:
    """`message` with the file that was `read` called `name`, the clip's name as the creator uploaded it.

    What an extractor reads is the stored file (`1e81df2bd467_walk.mp4`: a random prefix keeps two uploads of
    the same name apart) or a scratch copy of it, and its messages name that file, or ffmpeg's give its path.
    """
    if read is None:
        return message
    return message.replace(str(read), name).replace(read.name, name)
