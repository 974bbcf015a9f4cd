from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import PurePosixPath

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.delivery import safe_content_type, serve_file, serve_poster
from config.requests import AuthedRequest
from datasets.models import ClipPair
from datasets.recipes import get_recipe
from engine.bases import BASES
from engine.media import write_poster
from studio.adapters import download_stem
from studio.masks import STILL_SUFFIXES
from studio.sample_grid import sample_grid
from studio.views.adapters import get_adapter_for_user
from training.events import events_after
from training.models import Checkpoint, RunEvent, TrainingRun, ValidationSample
from training.models_config import available_bases
from training.progress import run_stages
from training.runs import (
    RunStateError,
    continue_run,
    delete_run,
    plan_train_again,
    request_cancel,
    request_flag,
    runs_ahead,
    train_again_on,
)

MAX_EXTRA_STEPS = 100_000


def _get_run_for_user(request: AuthedRequest, run_id: int) -> TrainingRun:
    runs = TrainingRun.objects.all() if request.user.is_staff else TrainingRun.objects.filter(owner=request.user)
    return get_object_or_404(runs.select_related("dataset", "owner"), pk=run_id)


def _get_checkpoint_for_user(request: AuthedRequest, checkpoint_id: int) -> Checkpoint:
    checkpoints = Checkpoint.objects.select_related("run")
    if not request.user.is_staff:
        checkpoints = checkpoints.filter(run__owner=request.user)
    return get_object_or_404(checkpoints, pk=checkpoint_id)


def _get_sample_for_user(request: AuthedRequest, sample_id: int) -> ValidationSample:
    samples = ValidationSample.objects.select_related("run")
    if not request.user.is_staff:
        samples = samples.filter(run__owner=request.user)
    return get_object_or_404(samples, pk=sample_id)


# The page's log: the log lines, state changes and errors among the run's last RECENT_EVENTS events, at most
# LOG_LINES of them (the page script adds newer ones as they arrive).
RECENT_EVENTS = 300
LOG_LINES = 80
LOG_KINDS = (RunEvent.Kind.LOG, RunEvent.Kind.STATE, RunEvent.Kind.ERROR)


def _checkpoints(run: TrainingRun) -> list[Checkpoint]:
    return list(run.checkpoints.order_by("-step").only("pk", "run", "step", "size_bytes"))


def _status_context(run: TrainingRun) -> dict[str, object]:
    """What the status part shows: the run's own fields, its stages (the one it is in with its own progress, its
    place in the queue while it waits), its adapter once made."""
    return {
        "run": run,
        "adapter": run.adapters.order_by("-created_at").only("pk", "run", "name").first(),
        "stages": run_stages(run, runs_ahead(run)),
        # The bases it can be trained again on, once it has ended (an adapter only works with its own base).
        "other_bases": [(name, BASES[name].title) for name in available_bases() if name != run.base]
        if run.state in TrainingRun.FINAL_STATES else [],
    }


def _samples_context(run: TrainingRun, checkpoints: list[Checkpoint] | None = None) -> dict[str, object]:
    """What the samples part shows: the grid of validation samples, with the checkpoint kept at each step."""
    samples = run.samples.order_by("step", "pk").only("pk", "run", "step", "prompt")
    kept = _checkpoints(run) if checkpoints is None else checkpoints
    return {"run": run, "grid": sample_grid(samples, kept, run.config or {})}


def _checkpoints_context(run: TrainingRun) -> dict[str, object]:
    return {"run": run, "checkpoints": _checkpoints(run)}


def _delete_context(run: TrainingRun) -> dict[str, object]:
    return {"run": run, "checkpoints": run.checkpoints.only("pk", "run")}


# Each part of the run page htmx refreshes, with only what that part renders: a refresh costs the same whatever
# the run's history (events, loss points, samples).
PARTS: dict[str, Callable[[TrainingRun], dict[str, object]]] = {
    "status": _status_context, "checkpoints": _checkpoints_context, "samples": _samples_context,
    "delete": _delete_context,
}


def _run_context(run: TrainingRun) -> dict[str, object]:
    """The whole page: every part, the loss curve and the log."""
    recent = list(run.events.order_by("-seq").values_list("seq", flat=True)[:RECENT_EVENTS])
    logs = (list(run.events.filter(seq__gte=recent[-1], kind__in=LOG_KINDS).order_by("-seq")
                 .only("pk", "run", "seq", "payload", "created_at")[:LOG_LINES]) if recent else [])
    checkpoints = _checkpoints(run)
    return {
        **_status_context(run),
        **_samples_context(run, checkpoints),
        "checkpoints": checkpoints,
        "last_seq": recent[0] if recent else 0,
        "logs": logs[::-1],
        "loss_points": list(run.metrics.order_by("step").values_list("step", "loss")),
    }


@login_required
@require_GET
def run_detail(request: AuthedRequest, run_id: int) -> HttpResponse:
    run = _get_run_for_user(request, run_id)
    return render(request, "studio/run_detail.html", _run_context(run))


@login_required
@require_GET
def run_part(request: AuthedRequest, run_id: int, part: str) -> HttpResponse:
    """One named partial of the run page, rebuilt from the database (htmx refreshes these)."""
    if part not in PARTS:
        return HttpResponse(status=404)
    run = _get_run_for_user(request, run_id)
    return render(request, f"studio/run_detail.html#{part}", PARTS[part](run))


@login_required
@require_GET
def run_events(request: AuthedRequest, run_id: int) -> JsonResponse:
    """Events after `?after=SEQ`: the page's fallback when its websocket cannot connect."""
    run = _get_run_for_user(request, run_id)
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after = 0
    return JsonResponse({"events": events_after(run.pk, after)[:500]})


@login_required
@require_POST
def run_action(request: AuthedRequest, run_id: int, action: str) -> HttpResponse:
    run = _get_run_for_user(request, run_id)
    try:
        if action == "cancel":
            request_cancel(run)
            messages.info(request, "Stopping the run. Checkpoints saved so far are kept.")
        elif action == "save":
            request_flag(run, "save_requested")
        elif action == "sample":
            request_flag(run, "sample_requested")
        else:
            return HttpResponse(status=404)
    except RunStateError as error:
        messages.error(request, str(error))
    if request.htmx:
        run.refresh_from_db()
        return render(request, "studio/run_detail.html#status", _status_context(run))
    return redirect("run_detail", run.pk)


@login_required
@require_POST
def run_delete(request: AuthedRequest, run_id: int) -> HttpResponse:
    run = _get_run_for_user(request, run_id)
    try:
        delete_run(run)
    except RunStateError as error:
        messages.error(request, str(error))
        return redirect("run_detail", run.pk)
    messages.success(request, f"The run “{run.name}” was deleted, with its checkpoints and samples.")
    return redirect("dashboard")


@login_required
@require_http_methods(["GET", "POST"])
def run_train_again(request: AuthedRequest, run_id: int) -> HttpResponse:
    """The run's clips and settings trained again on another base model, by its creator: GET shows what would be
    trained (the settings translated to that base, what changed), POST launches it."""
    run = _get_run_for_user(request, run_id)
    if run.owner_id != request.user.pk:
        raise Http404("Only its creator can train a run again.")
    if request.method == "POST":
        try:
            new_run = train_again_on(run, request.POST.get("base", ""))
        except RunStateError as error:
            messages.error(request, str(error))
            return redirect("run_detail", run.pk)
        return redirect("run_detail", new_run.pk)
    try:
        plan, refusal = plan_train_again(run, _base_asked(request, run)), ""
    except RunStateError as error:
        plan, refusal = None, str(error)
    pairs = run.dataset.pairs.all() if run.dataset else ClipPair.objects.none()
    recipe = get_recipe(run.recipe)
    context = {"run": run, "plan": plan, "refusal": refusal, "recipe": recipe, "clips": pairs.count(),
               "recipe_note": dict(recipe.base_notes).get(plan.base.name, "") if plan else "",
               # Pairs the worker would refuse (training.storage): the page says so before any GPU time is spent.
               "attention": pairs.filter(Q(status=ClipPair.Status.ERROR) | Q(reference_file="") | Q(target_file=""))
               .count(),
               "from_dataset": request.GET.get("from") == "dataset" and run.dataset is not None}
    return render(request, "studio/train_again.html", context, status=200 if plan else 409)


def _base_asked(request: AuthedRequest, run: TrainingRun) -> str:
    """The base in `?base=`, else the first other base this server offers (a link may name none when there is one)."""
    others = [name for name in available_bases() if name != run.base]
    return request.GET.get("base") or (others[0] if others else "")


@login_required
@require_POST
def checkpoint_continue(request: AuthedRequest, checkpoint_id: int) -> HttpResponse:
    checkpoint = _get_checkpoint_for_user(request, checkpoint_id)
    try:
        extra = int(request.POST.get("extra_steps", ""))
        if extra > MAX_EXTRA_STEPS:
            raise RunStateError(f"At most {MAX_EXTRA_STEPS:,} more steps at a time.")
        new_run = continue_run(checkpoint, extra)
    except ValueError:
        messages.error(request, "Say how many more steps to train, as a whole number.")
    except RunStateError as error:
        messages.error(request, str(error))
    else:
        return redirect("run_detail", new_run.pk)
    return redirect("run_detail", checkpoint.run_id)


@login_required
@require_GET
def checkpoint_download(request: AuthedRequest, checkpoint_id: int) -> HttpResponseBase:
    checkpoint = _get_checkpoint_for_user(request, checkpoint_id)
    return _safetensors_download(request, checkpoint.adapter_file,
                                 download_stem(f"{checkpoint.run.name}-step{checkpoint.step}", checkpoint.run.base))


@login_required
@require_GET
def adapter_download(request: AuthedRequest, adapter_id: int) -> HttpResponseBase:
    adapter = get_adapter_for_user(request, adapter_id)
    return _safetensors_download(request, adapter.file, download_stem(adapter.name, adapter.base))


def _safetensors_download(request: AuthedRequest, field: FieldFile, stem: str) -> HttpResponseBase:
    return serve_file(request, field, "application/octet-stream", download_name=f"{file_stem(stem)}.safetensors")


def file_stem(name: str) -> str:
    """A name that stays one word in ComfyUI's LoRA list and in a shell: "Walks · step 250" -> "Walks_step_250"
    (accents kept as their plain letters, anything else between words becomes one underscore)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9.-]+", "_", plain).strip("_.") or "adapter"


def _validation_reference(run: TrainingRun, index: int) -> tuple[FieldFile, str]:
    """The stored reference clip of the run's validation sample row `index` and its kind ("video" or "image")."""
    names = (run.config or {}).get("validation", {}).get("reference_videos", [])
    if index >= len(names):
        raise Http404("This run has no such validation clip.")
    name = str(names[index])
    stored = FieldFile(None, ClipPair._meta.get_field("reference_file"), name)  # type: ignore[arg-type]
    if not stored.storage.exists(name):
        raise Http404("This validation clip is no longer stored.")
    return stored, "image" if PurePosixPath(name).suffix.lower() in STILL_SUFFIXES else "video"


@login_required
@require_GET
def validation_reference(request: AuthedRequest, run_id: int, index: int) -> HttpResponseBase:
    """The reference clip of the run's validation sample row `index`, as stored with the dataset."""
    stored, kind = _validation_reference(_get_run_for_user(request, run_id), index)
    return serve_file(request, stored, safe_content_type(kind, stored.name or ""))


@login_required
@require_GET
def validation_reference_poster(request: AuthedRequest, run_id: int, index: int) -> HttpResponseBase:
    """A still of the validation reference clip, shown before it plays."""
    stored, kind = _validation_reference(_get_run_for_user(request, run_id), index)
    if kind != "video":
        raise Http404("A still reference is its own picture.")
    return serve_poster(request, stored, write_poster)


@login_required
@require_GET
def sample_video(request: AuthedRequest, sample_id: int) -> HttpResponseBase:
    sample = _get_sample_for_user(request, sample_id)
    return serve_file(request, sample.video_file, "video/mp4")


@login_required
@require_GET
def sample_poster(request: AuthedRequest, sample_id: int) -> HttpResponseBase:
    """A still of the validation sample, shown before it plays (made by the worker with the sample)."""
    sample = _get_sample_for_user(request, sample_id)
    return serve_poster(request, sample.video_file, write_poster)
