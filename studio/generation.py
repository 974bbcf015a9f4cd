"""Generations: check and snap what a creator asked for, queue it, and run it on a GPU worker.

The state lives in the `Generation` row. The worker updates it as it goes and pushes a small message to the
generation's channel group; the page rebuilds itself from the database (htmx), so a lost push costs nothing.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.db.models.fields.files import FieldFile

from config.delivery import stored_poster
from config.files import delete_unreferenced_on_commit
from engine.bases import get_base
from engine.captions import with_trigger
from engine.export import AdapterError
from engine.inference import (
    GenerationResult,
    GenerationSpec,
    InferenceError,
    SettingsError,
    fit_to_reference,
    generate,
    shape_name,
    snap_settings,
)
from engine.lora import quantize_int8
from engine.media import (
    MAX_PHOTO_BYTES,
    MediaError,
    VideoInfo,
    add_sound,
    conform,
    fps_text,
    normalized_photo,
    probe,
    write_mp4,
    write_poster,
)
from engine.model_paths import SMALL_MODELS
from jobs import lifecycle
from jobs.enqueue import enqueue_on_commit
from studio import masks, voice
from studio.adapters import UploadRejected, base_title, check_file, plain_reason, unavailable_reason
from studio.models import Adapter, Generation
from studio.tasks import generate as generate_task
from training.models_config import default_base, model_paths
from training.storage import download

log = logging.getLogger(__name__)
State = Generation.State

VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"}
MASK_SUFFIXES = VIDEO_SUFFIXES | masks.IMAGE_SUFFIXES


class GenerationRefused(ValueError):
    """The request cannot be generated; `errors` maps form fields to plain messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Defaults:
    num_frames: int
    width: int
    height: int
    frame_rate: float
    steps: int
    guidance: float
    max_sequence_length: int


def small_model() -> str | None:
    """The small CPU model in use (tiny or demo), or None for the real LTX-2.3."""
    preset = str(settings.MODEL_PRESET)
    return preset if preset in SMALL_MODELS else None


def fast_preview_available(base: str | None = None) -> bool:
    """Whether the operator configured the distilled checkpoint (few fixed steps, no guidance) of `base` (the
    default base when not given)."""
    _model, _encoder, distilled = get_base(base or default_base()).environment
    return bool(getattr(settings, distilled)) and small_model() is None


# An adapter's `bucket` metadata: "WxHxF@fps", several comma-separated.
BUCKET_LABEL = re.compile(r"(\d+)x(\d+)x(\d+)@([\d.]+)")


# The small models' usual size: the tiny one's smallest, the demo model's own bucket (what it was pretrained at).
MODEL_DEFAULTS = {"tiny": Defaults(17, 128, 96, 24.0, 8, 1.0, 128), "demo": Defaults(25, 256, 160, 24.0, 20, 1.0, 128)}


def defaults_for(adapter: Adapter | None) -> Defaults:
    """Starting values: the adapter's training bucket when it recorded one, else the model's usual size."""
    base = MODEL_DEFAULTS.get(small_model() or "", Defaults(121, 768, 448, 24.0, 30, 3.0, 1024))
    # Several buckets are listed comma-separated, the dataset's most common orientation first.
    bucket = ((adapter.metadata.get("bucket", "") if adapter else "") or "").split(",")[0].strip()
    match = BUCKET_LABEL.fullmatch(bucket)
    if match:
        w, h, f, fps = match.groups()
        return Defaults(int(f), int(w), int(h), float(fps), base.steps, base.guidance, base.max_sequence_length)
    return base


def trained_frame_rate(adapter: Adapter | None) -> float | None:
    """The frame rate the adapter was trained at (its first bucket's), or None when it does not say (an adapter
    uploaded without that metadata, or no adapter)."""
    bucket = ((adapter.metadata.get("bucket", "") if adapter else "") or "").split(",")[0].strip()
    match = BUCKET_LABEL.fullmatch(bucket)
    return float(match.group(4)) if match and float(match.group(4)) > 0 else None


@dataclass(frozen=True)
class FrameRateDefault:
    """What a blank frame rate becomes, and the form's words for it. `fps` None: the reference video's own rate,
    known only once the reference is read (the model's usual rate for a still image)."""

    fps: float | None
    help: str


def trained_rate(name: str, fps: float) -> FrameRateDefault:
    return FrameRateDefault(fps, f"Frame rate {fps_text(fps)} fps: the rate “{name}” was trained at.")


def reference_rate(fps: float, name: str) -> FrameRateDefault | None:
    """The rate of a reference chosen on the page (a control video, a dataset clip); None when it is not usable."""
    if not usable_frame_rate(fps):
        return None
    return FrameRateDefault(round(fps, 2), f"Frame rate {fps_text(fps)} fps: the rate of your reference “{name}”.")


def blank_rate() -> FrameRateDefault:
    usual = fps_text(defaults_for(None).frame_rate)
    return FrameRateDefault(None, f"Frame rate left blank: the rate of your reference video ({usual} fps, the "
                            "model's usual rate, for a still image).")


def frame_rate_default(adapter: Adapter | None, reference: FrameRateDefault | None = None) -> FrameRateDefault:
    """A blank frame rate is the rate the adapter was trained at when it says; else the rate of the reference chosen
    on the page (`reference_rate`), when there is one; else, once the reference is read, its own rate (the model's
    usual rate for a still image)."""
    trained = trained_frame_rate(adapter)
    if adapter is not None and trained:
        return trained_rate(adapter.name, trained)
    return reference or blank_rate()


def usable_frame_rate(fps: float) -> bool:
    """Whether a reference's own rate can be the output's: within what the form accepts (a phone's slow motion at
    240 fps is not)."""
    return 1 <= fps <= 60


def temporal_scale_of(adapter: Adapter) -> int:
    """The adapter's reference temporal scale factor S (its reference keeps every S-th frame), from its metadata."""
    try:
        return max(1, int(float(adapter.metadata.get("reference_temporal_scale_factor", 1))))
    except (TypeError, ValueError):
        return 1


def expects_voice(adapter: Adapter | None) -> bool:
    """Whether the adapter was trained with a reference voice and so needs one to generate (engine.export's
    `reference_audio` metadata)."""
    return adapter is not None and str((adapter.metadata or {}).get("reference_audio", "")).lower() == "true"


def prompt_with_trigger(adapter: Adapter | None, prompt: str = "") -> str:
    return with_trigger(adapter.trigger_phrase if adapter else "", prompt.strip())


# --- Creating a generation (web process)


def _spool(source: UploadedFile | FieldFile, folder: Path, name: str) -> Path:
    suffix = Path(source.name or "").suffix.lower()
    path = folder / f"{name}{suffix}"
    temporary = getattr(source, "temporary_file_path", None)
    if temporary is not None:
        shutil.copyfile(temporary(), path)
        return path
    source.open("rb")
    try:
        with path.open("wb") as out:
            for chunk in source.chunks():
                out.write(chunk)
    finally:
        if isinstance(source, FieldFile):
            source.close()
    return path


def _frames_at(info: Any, fps: float) -> int:
    """How many frames the reference gives once resampled to `fps` (what `conform` will find)."""
    return math.floor(info.frames * fps / info.fps + 1e-6) if info.fps > 0 else info.frames


def _fit_size(width: Any, height: Any, info: VideoInfo, adapter: Adapter) -> tuple[int, int, str] | None:
    """The asked size turned to the reference's shape (`fit_to_reference`) and a note saying so; None when it
    already has that shape or is not a number (`snap_settings` then says so)."""
    try:
        w, h = int(str(width).strip()), int(str(height).strip())
    except ValueError:
        return None
    labels = (adapter.metadata.get("bucket", "") or "").split(",")
    trained = [(int(m[1]), int(m[2])) for label in labels if (m := BUCKET_LABEL.fullmatch(label.strip()))]
    fit_w, fit_h = fit_to_reference(w, h, info.width, info.height, 32 * adapter.reference_downscale_factor, trained)
    if (fit_w, fit_h) == (w, h):
        return None
    return fit_w, fit_h, (
        f"Size: {w}×{h} → {fit_w}×{fit_h}, the shape of your {shape_name(info.width, info.height)} reference "
        f"({info.width}×{info.height}), so none of it is cropped away. Untick “Size follows the reference” to choose "
        "another shape.")


def _normalized(photo: UploadedFile) -> UploadedFile:
    """The uploaded photo as ffmpeg can read it: HEIC/AVIF as JPEG, turned upright if stored sideways
    (`normalized_photo`)."""
    if photo.size is None or photo.size > MAX_PHOTO_BYTES:
        return photo
    photo.seek(0)
    normalized = normalized_photo(photo.read())
    photo.seek(0)
    if normalized is None:
        return photo
    data, suffix = normalized
    return SimpleUploadedFile(Path(photo.name or "photo").stem + suffix, data, f"image/{suffix.lstrip('.')}")


@dataclass
class _Request:
    """The form's checked values, blanks filled with the adapter's defaults."""

    prompt: str
    negative: str
    seed: int
    fps: float
    fast: bool
    steps: int
    guidance: float
    adapter_scale: float
    strength: float
    effect_scale: float

    @classmethod
    def of(cls, cleaned: dict[str, Any], defaults: Defaults, base: str) -> _Request:
        def given(name: str, default: Any) -> Any:
            value = cleaned.get(name)
            return default if value is None else value

        return cls(
            prompt=cleaned["prompt"], negative=str(cleaned.get("negative_prompt") or "").strip(), seed=cleaned["seed"],
            fps=given("frame_rate", defaults.frame_rate), fast=bool(cleaned.get("fast_preview")) and
            fast_preview_available(base), steps=given("num_inference_steps", defaults.steps),
            guidance=given("guidance_scale", defaults.guidance), adapter_scale=given("adapter_scale", 1.0),
            strength=given("attention_strength", 1.0), effect_scale=given("effect_scale", 0.8),
        )


def create_generation(
    owner: Any,
    adapter: Adapter,
    cleaned: dict[str, Any],
    reference: UploadedFile | FieldFile | None,
    effect: Adapter | None = None,
    reference_name: str = "",
    drawn_tracks: dict[str, Any] | None = None,
    voice_name: str = "",
) -> Generation:
    """Check what needs the adapter and the reference, snap frames and size (saving a note per change), store the
    generation and queue it.

    `cleaned` is a valid `studio.forms.GenerationForm`'s cleaned data; `reference_name` is what the creator calls the
    reference (a dataset clip's or control video's name; an upload's own file name otherwise); `drawn_tracks` the
    motion tracks drawn on the canvas that `reference` was rendered from (`studio.tracks`), kept for reuse. The
    form's `voice_upload`, the person's voice (an upload, or an earlier generation's stored voice called
    `voice_name`), is needed by an adapter trained with one (`expects_voice`) and set aside with a note for any
    other. Raises GenerationRefused with one message per bad field.
    """
    errors: dict[str, str] = {}
    defaults = defaults_for(adapter)
    _check_adapters(adapter, effect, errors)
    request = _Request.of(cleaned, defaults, adapter.base)
    mask_settings: dict[str, Any] = cleaned["mask_settings"]
    mask_upload = cleaned.get("mask_upload") if mask_settings["mask_preset"] == "upload" else None
    reference, still = _check_reference(reference, mask_settings, errors)
    voice_upload: UploadedFile | FieldFile | None = cleaned.get("voice_upload")
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        info = _probe_reference(reference, Path(scratch), errors)
        if cleaned.get("frame_rate") is None:
            request.fps = _blank_frame_rate(adapter, info, still, notes)
        snapped = _snap_shape(cleaned, defaults, adapter, info, still, request.fps, notes, errors)
        if mask_upload is not None:
            try:
                masks.check_file(_spool(mask_upload, Path(scratch), "mask"), 1, 8, 8)
            except masks.MaskError as error:
                errors["mask"] = str(error)
        heard = _check_voice(adapter, voice_upload, Path(scratch), notes, errors)
    if errors:
        raise GenerationRefused(errors)
    assert snapped is not None and info is not None and reference is not None
    notes.extend(snapped.notes)
    notes.extend(_advice(adapter, request, still, info))

    spec = GenerationSpec(
        prompt=request.prompt, negative_prompt=request.negative, seed=request.seed, num_frames=snapped.num_frames,
        height=snapped.height, width=snapped.width, frame_rate=request.fps,
        num_inference_steps=request.steps, guidance_scale=request.guidance,
        adapter_scale=request.adapter_scale, attention_strength=request.strength,
        reference_downscale_factor=adapter.reference_downscale_factor,
        reference_temporal_scale_factor=temporal_scale_of(adapter),
        effect_scale=request.effect_scale if effect else 0.0, distilled=request.fast,
        max_sequence_length=defaults.max_sequence_length, still_reference=still,
        reference_audio_placement=str(adapter.metadata.get("reference_audio_placement") or "before"),
    )
    stored_settings = {
        **spec.as_dict(), **mask_settings, "compare": bool(cleaned.get("compare")),
        "fit_reference": bool(cleaned.get("fit_reference")), "notes": notes,
        "requested": {k: str(cleaned.get(k) or "") for k in ("num_frames", "height", "width")},
        "reference_name": reference_name or Path(reference.name or "reference").name,
        "adapter_name": adapter.name, "effect_name": effect.name if effect else "",
    }
    if heard is not None:
        assert voice_upload is not None
        stored_settings["voice"] = {"name": voice_name or Path(voice_upload.name or "voice").name,
                                    "seconds": heard.seconds, "used_seconds": heard.used_seconds}
    generation = Generation(owner=owner, adapter=adapter, effect_adapter=effect, prompt=request.prompt,
                            negative_prompt=request.negative, settings=stored_settings, drawn_tracks=drawn_tracks)
    return _store_and_queue(generation, reference, mask_upload, voice_upload if heard is not None else None)


def _check_voice(
    adapter: Adapter, upload: UploadedFile | FieldFile | None, scratch: Path, notes: list[str], errors: dict[str, str]
) -> voice.VoiceCheck | None:
    """The voice recording checked (decodes, 5 s or more, not silent) when the adapter needs one, else None: a
    recording given to an adapter trained without a voice is set aside with a note, and the rest goes ahead."""
    if not expects_voice(adapter):
        if upload is not None:
            notes.append(f"Voice: “{adapter.name}” was not trained with a voice, so your voice recording was not "
                         "used. Choose an identity adapter trained with a voice to make the person speak.")
        return None
    if upload is None:
        errors["voice"] = (f"“{adapter.name}” was trained with a voice: add a recording of the person speaking alone "
                           "for 5–15 s (upload one, or record it here).")
        return None
    refusal = voice.suffix_refusal(upload.name or "")
    if refusal:
        errors["voice"] = refusal
        return None
    try:
        heard = voice.check_voice(_spool(upload, scratch, "voice"))
    except voice.VoiceRefused as error:
        errors["voice"] = str(error)
        return None
    if heard.note:
        notes.append(heard.note)
    return heard


def _blank_frame_rate(adapter: Adapter, info: VideoInfo | None, still: bool, notes: list[str]) -> float:
    """The frame rate the creator left blank (`frame_rate_default`), with a note saying which it is when it is not
    the adapter's own."""
    default = frame_rate_default(adapter)
    if default.fps is not None:
        return default.fps
    since = f" (“{adapter.name}” does not say what rate it was trained at)"
    if info is not None and not still and usable_frame_rate(info.fps):
        notes.append(f"Frame rate: {fps_text(info.fps)} fps, your reference video's own{since}.")
        return round(info.fps, 2)
    usual = defaults_for(None).frame_rate
    notes.append(f"Frame rate: {fps_text(usual)} fps, the model's usual rate{since}.")
    return usual


def _check_adapters(adapter: Adapter, effect: Adapter | None, errors: dict[str, str]) -> None:
    """Each LoRA of the right kind, and both made for one base model that this server runs: the generation runs on
    the IC-LoRA's base, and an adapter only works with the base it was trained on."""
    if adapter.kind != Adapter.Kind.ICLORA:
        errors["adapter"] = f"“{adapter.name}” is a style/effect LoRA; choose an IC-LoRA to follow a reference."
    elif (problem := unavailable_reason(adapter.name, adapter.base)) is not None:
        errors["adapter"] = problem
    if effect is not None and effect.kind != Adapter.Kind.EFFECT:
        errors["effect"] = "Choose a style/effect LoRA here (an ordinary LoRA), not an IC-LoRA."
    elif effect is not None and effect.base != adapter.base:
        errors["effect"] = (f"“{effect.name}” was made for {base_title(effect.base)} and “{adapter.name}” for "
                            f"{base_title(adapter.base)}: an adapter only works with the base model it was trained "
                            "on, so both must be made for the same one.")


def _check_reference(
    reference: UploadedFile | FieldFile | None, mask_settings: dict[str, Any], errors: dict[str, str]
) -> tuple[UploadedFile | FieldFile | None, bool]:
    """The reference as it will be stored (a photo turned upright) and whether it is a still image."""
    suffix = Path(reference.name or "").suffix.lower() if reference is not None else ""
    still = suffix in masks.STILL_SUFFIXES
    if still and isinstance(reference, UploadedFile):
        reference = _normalized(reference)
    if reference is None:
        errors["reference"] = "Upload a reference video or pick one from your datasets."
    elif suffix not in VIDEO_SUFFIXES and not still:
        errors["reference"] = ("The reference must be a video file (mp4, mov, webm, mkv), or a still image (png, "
                               "jpg, webp, heic) for an identity adapter.")
    if still and mask_settings.get("mask_preset") == "fade_in":
        errors["mask_preset"] = ("A still reference has a single frame, so it cannot fade in: use the whole frame or "
                                 "a region.")
    return reference, still


def _probe_reference(
    reference: UploadedFile | FieldFile | None, scratch: Path, errors: dict[str, str]
) -> VideoInfo | None:
    if reference is None or "reference" in errors:
        return None
    try:
        return probe(_spool(reference, scratch, "reference"))
    except MediaError as error:
        errors["reference"] = f"This reference video cannot be read: {error}"
        return None


def _snap_shape(
    data: dict[str, Any], defaults: Defaults, adapter: Adapter, info: VideoInfo | None, still: bool, fps: Any,
    notes: list[str], errors: dict[str, str],
) -> Any:
    """Frames and size snapped to what the model accepts (and to the reference's shape when asked)."""
    # A still image conditions every output frame, so it never limits how many frames can be made.
    available = _frames_at(info, fps) if info is not None and fps and not still else None
    width, height = data.get("width") or defaults.width, data.get("height") or defaults.height
    fitted = _fit_size(width, height, info, adapter) if info is not None and data.get("fit_reference") else None
    if fitted is not None:
        width, height, note = fitted
        notes.append(note)
    try:
        return snap_settings(data.get("num_frames") or defaults.num_frames, height, width,
                             adapter.reference_downscale_factor, available, temporal_scale_of(adapter))
    except SettingsError as error:
        errors[error.field or "num_frames"] = error.message
        return None


def _advice(adapter: Adapter, request: _Request, still: bool, info: VideoInfo) -> list[str]:
    """Notes on settings that are allowed but probably not what the creator meant."""
    notes = []
    if adapter.trigger_phrase and adapter.trigger_phrase.lower() not in request.prompt.lower():
        notes.append(f"Your prompt leaves out the adapter's trigger phrase “{adapter.trigger_phrase}”; "
                     "without it the adapter may have little effect.")
    if request.strength == 0:
        notes.append("Attention strength 0: the reference is ignored (useful only as a comparison).")
    if still and adapter.recipe and adapter.recipe != "identity":
        notes.append("This adapter was trained on reference videos; a still image may steer it only weakly.")
    if abs(info.fps - request.fps) > 0.5 and not still:
        notes.append(f"The reference plays at {fps_text(info.fps)} fps; it is resampled to "
                     f"{fps_text(request.fps)} fps.")
    return notes


def _store_and_queue(
    generation: Generation, reference: UploadedFile | FieldFile, mask: UploadedFile | None,
    voice_upload: UploadedFile | FieldFile | None = None,
) -> Generation:
    with transaction.atomic():
        generation.save()
        if isinstance(reference, FieldFile):
            generation.reference_file.name = reference.name  # a dataset clip: share the stored file
        else:
            generation.reference_file.save(f"reference{Path(reference.name or '').suffix.lower()}", reference,
                                           save=False)
        if mask is not None:
            generation.mask_file.save(f"mask{Path(mask.name or '').suffix.lower()}", mask, save=False)
        if isinstance(voice_upload, FieldFile):
            generation.voice_file.name = voice_upload.name  # an earlier generation's voice: share the stored file
        elif voice_upload is not None:
            voice_upload.seek(0)  # read once already, to be checked
            generation.voice_file.save(f"voice{Path(voice_upload.name or '').suffix.lower()}", voice_upload,
                                       save=False)
        lifecycle.transition(generation, State.QUEUED, "Waiting for a free machine.")
        send(generation)
    return generation


# --- Running a generation (worker)


def generation_group(generation_id: int) -> str:
    return f"generation-{generation_id}"


def push(generation: Generation) -> None:
    """Tell watching pages that the generation changed (best effort; they also poll the database)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "generation.update", "id": generation.pk, "state": generation.state,
               "progress": round(generation.progress, 4)}
    try:
        async_to_sync(layer.group_send)(generation_group(generation.pk), message)
    except Exception:
        log.warning("Could not push generation %s; the page will catch up from the database", generation.pk,
                    exc_info=True)


def announce(generation: Generation, state: str, reason: str) -> None:
    transaction.on_commit(partial(push, generation))


def send(generation: Generation, first: bool = False) -> None:
    enqueue_on_commit(generate_task, generation.pk, priority=lifecycle.FIRST if first else None)


def lost_reason(generation: Generation) -> str:
    return "The machine making this video stopped answering; it starts again on the next free machine."


KIND = lifecycle.Kind(model=Generation, noun="generation", task=generate_task.name, send=send, announce=announce,
                      lost_reason=lost_reason, progress=lambda generation: f"{generation.progress_percent}%")


class GenerationCancelled(Exception):
    """The creator cancelled the generation while it ran."""


def delete_generation(generation: Generation) -> bool:
    """Delete an ended generation and its files (those no other row uses: a reused reference stays); False while
    it is still being made."""
    with transaction.atomic():
        current = Generation.objects.select_for_update().get(pk=generation.pk)
        if current.state in Generation.ACTIVE_STATES:
            return False
        fields = (current.reference_file, current.reference_preview_file, current.mask_file, current.output_file,
                  current.baseline_file, current.voice_file)
        names = [field.name for field in fields if field]
        current.delete()
        delete_unreferenced_on_commit(names)
    return True


def cancel_generation(generation: Generation) -> bool:
    """Cancel a queued generation (or one whose worker is silent) now, or ask the worker to stop a running one;
    False when it already ended."""
    stopped = lifecycle.request_stop(Generation, generation.pk)
    if stopped is None:
        return False
    push(stopped)
    return True


def claim(generation_id: int, worker: str, task_id: str = "") -> Generation | None:
    """Take a queued generation (or one whose worker was lost mid-way); None when there is nothing to do."""
    return lifecycle.claim(Generation, generation_id, worker, task_id, progress=0.0, error_message="")


_PIPELINES: dict[tuple[str, str, str], Any] = {}


def pipeline_for(distilled: bool, base: str | None = None) -> Any:
    """The worker's pipeline of `base` (the default base when not given), loaded once per process and model (LoRAs
    are unloaded after each use)."""
    # engine.loader imports torch: loaded on the GPU worker only, not by the web process
    from engine.loader import load_pipeline, pick_device_and_dtype

    paths = model_paths(distilled=distilled, base=base)
    device, _dtype = pick_device_and_dtype()
    quantize = settings.STUDIO_QUANTIZE
    key = (paths.model_dump_json(), str(device), quantize)
    if key not in _PIPELINES:
        _PIPELINES.clear()  # one model in memory at a time
        if quantize == "int8":
            # Quantized on the CPU first, so the full-precision weights never have to fit on the GPU; Gemma too,
            # since it stays loaded beside the transformer here (about 37 GB in all instead of about 66).
            pipe = load_pipeline(paths, device="cpu", int8_text_encoder=True)
            quantize_int8(pipe.transformer)
            _PIPELINES[key] = pipe.to(device)
        else:
            _PIPELINES[key] = load_pipeline(paths, device=str(device))
    return _PIPELINES[key]


def workdir(generation_id: int) -> Path:
    """A scratch folder of this attempt's own: a redelivered job running beside a slow first attempt must not
    find its files removed by the other's clean-up."""
    root = Path(settings.DATA_DIR) / "work" / "generations"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{generation_id}-", dir=root))


def _local(field: FieldFile, folder: Path, name: str) -> Path:
    return download(field, folder / f"{name}{Path(field.name or '').suffix.lower()}")


def plain_error(error: BaseException, reference: str = "") -> str:
    if isinstance(error, SettingsError | masks.MaskError | MediaError | InferenceError):
        return str(error)
    if isinstance(error, AdapterError):
        return plain_reason(error, "The adapter")
    if isinstance(error, UploadRejected):  # the adapter checked against the model it was about to run on
        return str(error)
    where = f" under the reference {reference}" if reference else ""
    return (f"Something went wrong while generating ({type(error).__name__}: {error}). "
            f"Try again; if it keeps failing, an operator can look at the worker's log{where}.")


def run_generation(generation_id: int, worker: str, task_id: str = "") -> None:
    """Make the video(s) of a generation and store them. Safe to call twice: finished ones are left alone."""
    generation = claim(generation_id, worker, task_id)
    if generation is None:
        return
    holder = lifecycle.Holder(generation)
    folder = workdir(generation.pk)
    try:
        with lifecycle.Heartbeat(holder):
            _render(holder, folder)
    except GenerationCancelled:
        holder.end(State.CANCELLED, "Stopped at your request.")
    except lifecycle.JobLost:
        log.warning("Generation %s is no longer held by %s; leaving it", generation.pk, worker)
    except Exception as error:
        reference = lifecycle.error_reference(generation)
        log.exception("Generation %s failed (reference %s)", generation.pk, reference)
        holder.end(State.FAILED, "", error_message=plain_error(error, reference), error_ref=reference)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_cancel(holder: lifecycle.Holder) -> None:
    if holder.should_stop():
        raise lifecycle.JobLost if holder.lost.is_set() else GenerationCancelled


def _generate_with_voice(
    pipe: Any, spec: GenerationSpec, reference: Any, adapter_path: Path, mask: Any, effect_path: Path | None,
    voice_path: Path, compare: bool, on_step: Callable[..., None],
) -> GenerationResult:
    """The adapter's video with the person's voice and, to compare, the same seed without the adapter and without the
    voice (the model's own sound): two calls, since `generate` gives its voice to both of its passes."""
    share = 0.5 if compare else 1.0
    result = generate(pipe, spec, reference, adapter_path, mask=mask, effect_path=effect_path,
                      on_step=partial(on_step, share=share), reference_audio=voice_path)
    if result.audio is None or not result.audio_sample_rate:
        raise InferenceError("This model made no sound, so the voice cannot be heard: the Studio needs LTX-2's "
                             "audio decoder to use a voice. Ask the operator.")
    if not compare:
        return result
    # The same seed and settings, only the IC-LoRA off (an effect LoRA stays on, as in `generate`'s own baseline).
    baseline = generate(pipe, spec, reference, None, mask=mask, effect_path=effect_path,
                        on_step=partial(on_step, start=share, share=share))
    return replace(result, baseline=baseline.output, baseline_audio=baseline.audio,
                   seconds=result.seconds + baseline.seconds)


def _render(holder: lifecycle.Holder, folder: Path) -> None:
    generation = holder.job
    assert isinstance(generation, Generation)
    folder.mkdir(parents=True, exist_ok=True)
    stored = generation.settings
    spec = GenerationSpec(**{k: stored[k] for k in GenerationSpec.__dataclass_fields__ if k in stored})
    if generation.adapter is None:
        raise InferenceError("The adapter of this generation was deleted.")
    d = spec.reference_downscale_factor
    reference = conform(_local(generation.reference_file, folder, "reference"), spec.reference_fps,
                        spec.width // d, spec.height // d, spec.reference_frames)
    mask_path = _local(generation.mask_file, folder, "mask") if generation.mask_file else None
    mask = masks.build(stored, spec.reference_frames, spec.height // d, spec.width // d, mask_path, spec.reference_fps)
    adapter_path = _local(generation.adapter.file, folder, "adapter")
    effect_path = _local(generation.effect_adapter.file, folder, "effect") if generation.effect_adapter else None
    voice_path = _local(generation.voice_file, folder, "voice") if generation.voice_file else None

    _check_cancel(holder)  # loading a model takes a while: do not start one for nothing
    # The adapter's own base model; the engine refuses a file recorded for another one (an AdapterError, said plainly).
    pipe = pipeline_for(spec.distilled, generation.adapter.base)
    for path, adapter in ((adapter_path, generation.adapter), (effect_path, generation.effect_adapter)):
        if path is not None and adapter is not None:
            check_file(path, adapter.name, pipe.transformer)
    last = [0.0]

    def on_step(done: int, total: int, start: float = 0.0, share: float = 1.0) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 0.5:
            last[0] = now
            _check_cancel(holder)
            holder.update(progress=0.97 * (start + share * done / total))
            push(generation)

    compare = bool(stored.get("compare"))
    if voice_path is None:
        result = generate(pipe, spec, reference, adapter_path, mask=mask, effect_path=effect_path,
                          with_baseline=compare, on_step=on_step)
    else:
        result = _generate_with_voice(pipe, spec, reference, adapter_path, mask, effect_path, voice_path, compare,
                                      on_step)
    files = {
        "output_file": write_mp4(result.output, folder / "output.mp4", spec.frame_rate),
        # A still is shown for the whole clip, so it plays in step with the output like a video reference.
        "reference_preview_file": (
            write_mp4(reference.repeat(spec.num_frames, axis=0), folder / "reference_preview.mp4", spec.frame_rate)
            if spec.still_reference else  # a video reference plays at its own rate, so as long as the output
            write_mp4(reference, folder / "reference_preview.mp4", spec.reference_fps)),
    }
    if result.baseline is not None:
        files["baseline_file"] = write_mp4(result.baseline, folder / "baseline.mp4", spec.frame_rate)
    if voice_path is not None:  # both play with their sound: the voice's, and the model's own beside it
        assert result.audio is not None  # `_generate_with_voice` refuses a generation without sound
        add_sound(files["output_file"], result.audio, result.audio_sample_rate)
        if result.baseline_audio is not None:
            add_sound(files["baseline_file"], result.baseline_audio, result.audio_sample_rate)
    names = {}
    for field_name, path in files.items():
        with path.open("rb") as handle:
            field = getattr(generation, field_name)
            field.save(path.name, File(handle), save=False)
            names[field_name] = field.name
    posters = [stored_poster(getattr(generation, field_name), write_poster, local=path)  # shown before they play
               for field_name, path in files.items()]
    if not holder.end(State.SUCCEEDED, "", progress=1.0, settings={**stored, "seconds": round(result.seconds, 2)},
                      **names):
        for field in [*(getattr(generation, field_name) for field_name in names), *filter(None, posters)]:
            field.storage.delete(field.name)  # a worker that lost the job leaves no file behind
        raise lifecycle.JobLost
