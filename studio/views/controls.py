"""Studio: make a depth, edge, pose or motion-track video from any clip, to use as the reference of a generation."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.db.models.fields.files import FieldFile
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from config.requests import AuthedRequest
from datasets import limits as wizard_limits
from datasets.models import ClipPair
from datasets.sniff import Kind, sniff_stream
from prep.extract.base import ExtractionError
from prep.models import Extraction
from prep.services import VIDEO_METHODS, creator_problem, request_extraction

Method = Extraction.Method


def _get_control_for_user(request: AuthedRequest, extraction_id: str | int, *, done: bool = False) -> Extraction:
    """The creator's own control video (depth, edges, pose, motion tracks); 404 for anyone else's or for captions."""
    controls = Extraction.objects.filter(owner=request.user, method__in=VIDEO_METHODS)
    if done:
        controls = controls.filter(state=Extraction.State.DONE).exclude(output="")
    return get_object_or_404(controls, pk=int(extraction_id) if str(extraction_id).isdigit() else 0)


def _get_clip_for_user(request: AuthedRequest, pair_id: Any) -> ClipPair:
    pairs = ClipPair.objects.select_related("target_source").filter(dataset__owner=request.user)
    return get_object_or_404(pairs.exclude(target_file=""), pk=int(pair_id) if str(pair_id).isdigit() else 0)


def made_controls(owner: Any) -> list[Extraction]:
    """The creator's finished control videos, newest first (for the Studio's reference choices)."""
    return list(Extraction.objects.filter(owner=owner, method__in=VIDEO_METHODS, state=Extraction.State.DONE)
                .exclude(output="").order_by("-finished_at")[:100])


# How many tracks and how long their trails are shape what a motion-track adapter does, and a creator may have
# changed them in the wizard: say which are used here, and where the tracks can be shaped instead.
METHOD_HELP = {
    Method.TRACKS: "The points that move are followed through the clip and drawn as dots with fading trails, with "
                   "the wizard's default settings. To change the tracks, use “Follow its motion” under Draw motion "
                   "tracks in the Studio instead.",
}


def _methods() -> list[dict[str, Any]]:
    return [{"value": m.value, "label": m.label, "problem": creator_problem(m), "help": METHOD_HELP.get(m, "")}
            for m in VIDEO_METHODS]


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def clip_source(request: AuthedRequest) -> tuple[UploadedFile | FieldFile, str, str, bool]:
    """(file, name, sha256, owns_source) of the clip the creator chose; ExtractionError says what is wrong."""
    upload = request.FILES.get("video")
    if upload is not None:
        limit = wizard_limits.current().max_file_bytes
        if upload.size and upload.size > limit:
            raise ExtractionError(f"This video is larger than the {limit // 1024**2} MB limit.")
        if sniff_stream(upload) is not Kind.VIDEO:
            raise ExtractionError("This file is not a video. Choose an mp4, mov, webm or mkv clip.")
        return upload, Path(upload.name or "clip.mp4").name, _sha256(upload), True
    if request.POST.get("pair"):
        pair = _get_clip_for_user(request, request.POST["pair"])
        source = pair.target_source
        sha = source.sha256 if source is not None else hashlib.sha256(pair.target_file.name.encode()).hexdigest()
        return pair.target_file, f"{pair.name}.mp4", sha, False
    raise ExtractionError("Upload a video, or pick one of your clips.")


STUDIO_CHOICE = re.compile(r"(adapter|checkpoint)-\d+")


def studio_choice(request: AuthedRequest) -> str:
    """The adapter the creator had chosen in the Studio before this detour (`for`), carried back to it; the Studio
    checks it belongs to them when it loads."""
    value = request.GET.get("for") or request.POST.get("for") or ""
    return value if STUDIO_CHOICE.fullmatch(value) else ""


@login_required
@require_http_methods(["GET", "POST"])
def controls(request: AuthedRequest) -> HttpResponse:
    """Choose a clip and a kind of control video; the page of the new extraction follows."""
    context: dict[str, Any] = {"methods": _methods(), "made": made_controls(request.user), "chosen": "depth",
                               "for": studio_choice(request),
                               "clips": ClipPair.objects.filter(dataset__owner=request.user).exclude(target_file="")
                               .select_related("dataset").order_by("dataset__name", "position")[:300]}
    if request.method == "GET":
        return render(request, "studio/studio/controls.html", context)
    method = request.POST.get("method", "")
    context["chosen"] = method
    try:
        if method not in VIDEO_METHODS:
            raise ExtractionError("Choose what to make: a depth map, an edge map, a pose skeleton or motion tracks.")
        problem = creator_problem(method)
        if problem:
            raise ExtractionError(problem)
        source, name, sha, owns = clip_source(request)
        extraction = request_extraction(request.user, method, {}, source, name, sha, owns_source=owns)
    except ExtractionError as err:
        context["error"] = str(err)
        return render(request, "studio/studio/controls.html", context, status=400)
    target = reverse("studio_control", args=[extraction.pk])
    return redirect(f"{target}?for={context['for']}" if context["for"] else target)


@login_required
@require_GET
def control_detail(request: AuthedRequest, extraction_id: int) -> HttpResponse:
    extraction = _get_control_for_user(request, extraction_id)
    template = "studio/studio/control.html#progress" if request.htmx else "studio/studio/control.html"
    return render(request, template, {"extraction": extraction, "for": studio_choice(request)})


def reference_from_control(request: AuthedRequest, value: str) -> tuple[FieldFile, str]:
    """The output of the creator's finished control video `value` (an id), for the Studio form, and its name as the
    creator knows it ("Edge map of tree.mp4")."""
    extraction = _get_control_for_user(request, value, done=True)
    return extraction.output, f"{extraction.get_method_display()} of {extraction.source_name}"
