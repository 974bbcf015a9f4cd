"""Extractions behind the views and tasks: ask for one (reusing a finished one), run it, say what is possible."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from config.files import still_referenced
from datasets.services import local_path, named_as_uploaded
from jobs import lifecycle
from jobs.enqueue import enqueue_on_commit
from prep.extract.base import ExtractionError, ExtractionReport
from prep.models import Extraction
from prep.signals import extraction_finished
from prep.tasks import extract

log = logging.getLogger(__name__)
Method = Extraction.Method
State = Extraction.State
# The control videos a creator can make from any clip in the Studio (studio/views/controls.py), with each method's
# default settings: the same derivation as the wizard's, so a clip already made with those settings is reused.
VIDEO_METHODS = (Method.DEPTH, Method.CANNY, Method.POSE, Method.TRACKS)
PROGRESS_EVERY_SECONDS = 0.5
_PROBLEMS: dict[tuple[str, str], tuple[float, str | None]] = {}
PROBLEM_TTL_SECONDS = 30.0


def method_problem(method: str) -> str | None:
    """Why `method` cannot run on this server, in plain words; None when it can (cached for a few seconds)."""
    where = {Method.POSE: settings.POSE_PYTHON, Method.DEPTH: settings.DEPTH_MODEL_PATH,
             Method.CAPTION: settings.CAPTION_MODEL_PATH, Method.TRACKS: settings.TRACK_MODEL_PATH}.get(Method(method))
    key = (str(method), str(where))
    cached = _PROBLEMS.get(key)
    if cached is not None and time.monotonic() - cached[0] < PROBLEM_TTL_SECONDS:
        return cached[1]
    problem = _check(method, where)
    _PROBLEMS[key] = (time.monotonic(), problem)
    return problem


# What a creator is told when a method cannot run here: what to do, never a setting's name or a path (the
# operator console, /ops/models/, names those: see operators/model_checks.py).
CREATOR_PROBLEMS = {
    Method.DEPTH: "This server cannot make depth maps yet: its operator has not added a depth model.",
    Method.POSE: "This server cannot make pose skeletons yet: its operator has not set up pose extraction.",
    Method.CAPTION: "This server cannot write captions yet: its operator has not added a captioning model.",
    # Tracks need no model; only one an operator set up and got wrong stops them.
    Method.TRACKS: "This server cannot make motion tracks right now: the point-tracking model its operator set up "
                   "cannot be used.",
}


def creator_problem(method: str) -> str | None:
    """Why `method` cannot run here, in words for a creator (None when it can); `method_problem` has the details."""
    if method_problem(method) is None:
        return None
    return CREATOR_PROBLEMS.get(Method(method), "This server cannot make these yet.")


def _check(method: str, where: Any) -> str | None:
    if method == Method.CANNY:  # OpenCV only: every worker can make them
        return None
    if method == Method.TRACKS:
        # reads the file's table of contents only: no torch in the web process
        from prep.extract.track_model import track_model_problem

        return track_model_problem(where)
    if method == Method.POSE:
        # prep.extract.* loads cv2 and numpy at its top: kept off the web process, which imports this module
        from prep.extract.pose import pose_problem

        return pose_problem(Path(where))
    if method == Method.DEPTH:
        # cv2/numpy: loaded on the workers, not by the web process
        from prep.extract.depth import depth_model_problem

        return depth_model_problem(where)
    # cv2/numpy: loaded on the workers, not by the web process
    from prep.extract.captions import captioner_problem

    return captioner_problem(where)


def clean_settings(method: str, data: dict[str, Any]) -> dict[str, Any]:
    """The method's settings with defaults filled in; bad values raise ExtractionError with a plain message."""
    if method == Method.CANNY:
        # prep.extract.* loads cv2 and numpy at its top: kept off the web process, which imports this module
        from prep.extract.canny import CannySettings

        return CannySettings.from_dict(data).as_dict()
    if method == Method.POSE:
        # cv2/numpy: loaded on the workers, not by the web process
        from prep.extract.pose import PoseSettings

        return PoseSettings.from_dict(data).as_dict()
    if method == Method.DEPTH:
        # cv2/numpy: loaded on the workers, not by the web process
        from prep.extract.depth import DepthSettings

        return DepthSettings.from_dict(data).as_dict()
    if method == Method.TRACKS:
        # cv2/numpy: loaded on the workers, not by the web process
        from prep.extract.tracks import TrackSettings

        return TrackSettings.from_dict(data).as_dict()
    if data:
        raise ExtractionError("Captions have no settings to change.")
    return {}


def settings_key(method: str, values: dict[str, Any], source_sha256: str, maker: str | None = None) -> str:
    """The cache key of an extraction; `maker` names a model that changes the output beyond the settings (left out
    when there is none, so the keys made before it existed stay valid)."""
    key: dict[str, Any] = {"method": method, "settings": values, "source": source_sha256}
    if maker is not None:
        key["maker"] = maker
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _maker(method: str) -> str | None:
    # Tracks followed by an operator's point-tracking model differ from optical flow's: an operator who adds (or
    # changes) the model gets new tracks, not the ones cached before.
    if method == Method.TRACKS and settings.TRACK_MODEL_PATH:
        return str(settings.TRACK_MODEL_PATH)
    return None


def request_extraction(owner: Any, method: str, values: dict[str, Any], source: FieldFile | File[Any],
                       source_name: str, source_sha256: str, *, owns_source: bool = False) -> Extraction:
    """The extraction of `method` with `values` on this content: a finished or running one is reused as is.

    `source` is either a stored file (its name is shared, never copied) or a new upload saved for this
    extraction (`owns_source`). The task is sent after the transaction commits.
    """
    cleaned = clean_settings(method, values)
    key = settings_key(method, cleaned, source_sha256, _maker(method))
    existing = (Extraction.objects.filter(owner=owner, settings_key=key).exclude(state=State.FAILED)
                .order_by("-created_at").first())
    if existing is not None and (existing.state != State.DONE or _output_present(existing)):
        return existing
    extraction = Extraction(owner=owner, method=method, settings=cleaned, settings_key=key,
                            source_name=source_name[:255], source_sha256=source_sha256, owns_source=owns_source)
    if owns_source:
        extraction.source.save(Path(source_name).name, source, save=False)
    else:
        extraction.source.name = str(source.name)
    with transaction.atomic():
        lifecycle.transition(extraction, State.QUEUED, "Waiting for a worker.")
        send(extraction)
    return extraction


def _output_present(extraction: Extraction) -> bool:
    return extraction.method == Method.CAPTION or bool(extraction.output and extraction.output.storage.exists(
        extraction.output.name))


def send(extraction: Extraction, first: bool = False) -> None:
    queue = settings.CAPTION_QUEUE if extraction.method == Method.CAPTION else "cpu"
    enqueue_on_commit(extract, extraction.pk, queue=queue, priority=lifecycle.FIRST if first else None)


def announce(extraction: Extraction, state: str, reason: str) -> None:
    """Extraction pages poll the database, so a state change has nothing to push."""


def lost_reason(extraction: Extraction) -> str:
    return "The machine making this stopped answering; it starts again on the next free worker."


KIND = lifecycle.Kind(model=Extraction, noun="extraction", task=extract.name, send=send, announce=announce,
                      lost_reason=lost_reason, progress=lambda extraction: f"{extraction.percent}%")


def claim(extraction_id: int, worker: str, task_id: str = "") -> Extraction | None:
    """Take a queued extraction (or one whose worker was lost); None when it is finished or gone."""
    return lifecycle.claim(Extraction, extraction_id, worker, task_id, frames_done=0)


def run_extraction(extraction_id: int, worker: str, task_id: str = "") -> Extraction | None:
    """Make the extraction on this worker and record the outcome; idempotent (finished ones are skipped)."""

    extraction = claim(extraction_id, worker, task_id)
    if extraction is None:
        return None
    holder = lifecycle.Holder(extraction)
    scratch = Path(settings.DATA_DIR) / "work" / "prep" / str(extraction.pk)
    scratch.mkdir(parents=True, exist_ok=True)
    source: Path | None = None
    try:
        with lifecycle.Heartbeat(holder), local_path(extraction.source) as source:
            outcome = _make(extraction, source, scratch, holder)
        _succeed(holder, *outcome)
    except lifecycle.JobLost:
        log.warning("Extraction %s is no longer held by %s; leaving it", extraction.pk, worker)
    except ExtractionError as err:
        _fail(holder, named_as_uploaded(str(err), source, extraction.source_name))
    except Exception as err:  # a bug or a broken model must still end the extraction, not leave it running
        reference = lifecycle.error_reference(extraction)
        log.exception("Extraction %s failed (reference %s)", extraction.pk, reference)
        _fail(holder, f"Something went wrong on the worker ({type(err).__name__}). An operator can see the "
                      f"details in the worker's log under the reference {reference}.", reference)
    finally:
        for leftover in scratch.glob("*"):
            leftover.unlink(missing_ok=True)
        scratch.rmdir()
    extraction.refresh_from_db()
    extraction_finished.send(sender=Extraction, extraction=extraction)
    return extraction


def _make(extraction: Extraction, source: Path, scratch: Path,
          holder: lifecycle.Holder) -> tuple[dict[str, Any], Path | None]:
    """(report, output video or None for captions)."""
    started = time.monotonic()
    if extraction.method == Method.CAPTION:
        # cv2, numpy, then torch/transformers: the captioner runs on the workers only
        from prep.extract.captions import caption_clip, load_captioner

        _refuse_if_unavailable(Method.CAPTION)
        caption = caption_clip(load_captioner(str(settings.CAPTION_MODEL_PATH), device="auto"), source)
        return {"caption": caption, "seconds": round(time.monotonic() - started, 2)}, None
    output = scratch / f"{Path(extraction.source_name).stem[:80]}_{extraction.method}.mp4"
    report = _make_video(extraction, source, output, _progress_recorder(holder))
    return report.as_dict(), output


def _refuse_if_unavailable(method: str) -> None:
    """Stop an extraction this server cannot make: the creator reads what to do, the worker's log (and the operator
    console, /ops/models/) what is wrong."""
    problem = method_problem(method)
    if problem:
        log.warning("Cannot make %s here: %s", method, problem)
        raise ExtractionError(creator_problem(method) or problem)


def _make_video(extraction: Extraction, source: Path, output: Path, progress: Any) -> ExtractionReport:
    _refuse_if_unavailable(extraction.method)
    if extraction.method == Method.CANNY:
        # prep.extract.* loads cv2 and numpy at its top: kept off the web process, which imports this module
        from prep.extract.canny import CannySettings, extract_canny

        return extract_canny(source, output, CannySettings.from_dict(extraction.settings), progress)
    if extraction.method == Method.POSE:
        # cv2/numpy: loaded on the workers, not by the web process
        from prep.extract.pose import PoseSettings, extract_pose

        return extract_pose(source, output, PoseSettings.from_dict(extraction.settings), progress,
                            python=Path(settings.POSE_PYTHON))
    if extraction.method == Method.TRACKS:
        # cv2/numpy, and torch for a point-tracking model: loaded on the workers, not by the web process
        from prep.extract.track_model import load_track_model
        from prep.extract.tracks import TrackSettings, extract_tracks

        # the GPU when the worker has one
        tracker = load_track_model(settings.TRACK_MODEL_PATH, device="auto") if settings.TRACK_MODEL_PATH else None
        return extract_tracks(source, output, TrackSettings.from_dict(extraction.settings), progress, tracker)
    # cv2/numpy: loaded on the workers, not by the web process
    from prep.extract.depth import DepthSettings, extract_depth, load_depth_model

    model = load_depth_model(str(settings.DEPTH_MODEL_PATH), device="auto")  # the GPU when the worker has one
    return extract_depth(source, output, DepthSettings.from_dict(extraction.settings), model, progress)


def _progress_recorder(holder: lifecycle.Holder) -> Any:
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS or done >= total:
            last[0] = now
            holder.update(frames_done=done, frames_total=total)  # JobLost ends the extractor's loop

    return progress


def _succeed(holder: lifecycle.Holder, report: dict[str, Any], output: Path | None) -> None:
    extraction = holder.job
    assert isinstance(extraction, Extraction)
    fields: dict[str, Any] = {"report": report, "error_message": ""}
    if output is not None:
        with output.open("rb") as handle:
            extraction.output.save(output.name, File(handle), save=False)
        fields["output"] = extraction.output.name
        if extraction.method == Method.TRACKS:
            report["coordinates"] = _save_coordinates(extraction, output)
    frames = int(report.get("frames", 0))
    if frames:
        fields["frames_done"] = fields["frames_total"] = frames
    if not holder.end(State.DONE, "", **fields):
        if output is not None:
            extraction.output.delete(save=False)  # a worker that lost the job leaves no file behind
            _delete_coordinates(extraction.output.storage, report)
        raise lifecycle.JobLost


def _save_coordinates(extraction: Extraction, output: Path) -> str:
    """Store the tracks' positions written beside the video (see `prep.extract.tracks.coordinates_path`) next to the
    stored video; their stored name, recorded in the report."""
    # prep.extract.tracks loads cv2 and numpy: this runs on the workers only
    from prep.extract.tracks import coordinates_path

    stored = str(PurePosixPath(extraction.output.name).with_suffix(".json"))
    with coordinates_path(output).open("rb") as handle:
        return extraction.output.storage.save(stored, File(handle))


def _delete_coordinates(storage: Any, report: dict[str, Any]) -> None:
    if report.get("coordinates"):
        storage.delete(str(report["coordinates"]))


def tracks_coordinates(extraction: Extraction) -> dict[str, Any] | None:
    """The positions a finished motion-track extraction followed (`prep.extract.tracks.write_coordinates`), or
    None when it kept none (made before they were kept, or its file is gone)."""
    name = (extraction.report or {}).get("coordinates")
    if extraction.method != Method.TRACKS or not name:
        return None
    storage = extraction.output.storage
    try:
        with storage.open(str(name), "rb") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _fail(holder: lifecycle.Holder, message: str, reference: str = "") -> None:
    holder.end(State.FAILED, "", error_message=message, error_ref=reference)


UNUSED_AFTER_DAYS = 7


def delete_unused_extractions(older_than_days: int = UNUSED_AFTER_DAYS) -> tuple[int, int]:
    """Delete ended extractions nothing uses any more: (how many, bytes freed).

    In use means: a pair's reference or caption comes from it, or a row of any other model names its output (a
    Studio generation's reference, say). Recent ones are kept (a creator may still pick a control video they just
    made).
    """
    cutoff = timezone.now() - timedelta(days=older_than_days)
    candidates = (Extraction.objects.filter(state__in=Extraction.FINAL_STATES, created_at__lt=cutoff,
                                            reference_pairs__isnull=True, caption_pairs__isnull=True)
                  .distinct())
    used_outputs = still_referenced((e.output.name for e in candidates if e.output),
                                    ignoring=[Extraction._meta.get_field("output")])
    count = freed = 0
    for extraction in candidates:
        if extraction.output and extraction.output.name in used_outputs:
            continue
        if extraction.output:
            _delete_coordinates(extraction.output.storage, extraction.report or {})
        for field in (extraction.output, extraction.source if extraction.owns_source else None):
            if field:
                freed += _size_or_zero(field)
                field.delete(save=False)
        extraction.delete()
        count += 1
    return count, freed


def _size_or_zero(field: FieldFile) -> int:
    try:
        return int(field.size)
    except (OSError, ValueError):
        return 0
