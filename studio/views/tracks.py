"""The Studio's motion-track canvas: render the drawn tracks for a look before generating, and start from the tracks
of a clip (made on the cpu queue as prep's motion-track extraction, then handed to the canvas as keypoints)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.requests import AuthedRequest
from datasets.models import ClipPair
from prep.extract.base import ExtractionError
from prep.models import Extraction
from prep.services import creator_problem, request_extraction
from studio.tracks import TracksRefused, as_data_url, clip_keypoints, drawn_size, read_drawn, render_reference
from studio.views.controls import clip_source
from studio.views.generate import choice_adapter

RENDERED = "studio/studio/studio.html#tracks-rendered"
FROM_CLIP = "studio/studio/studio.html#tracks-from-clip"
CLIP_CHOICES = "studio/studio/studio.html#tracks-clip-choices"


def _get_tracks_for_user(request: AuthedRequest, extraction_id: int) -> Extraction:
    """The creator's own motion-track extraction; 404 for anyone else's and for other kinds."""
    return get_object_or_404(Extraction, pk=extraction_id, owner=request.user, method=Extraction.Method.TRACKS)


@login_required
@require_POST
def tracks_render(request: AuthedRequest) -> HttpResponse:
    """The drawn tracks as the reference video the generation will get, at its size, length and rate."""
    values = {key: request.POST.get(key, "") for key in request.POST}
    try:
        drawn = read_drawn(values.get("drawn_tracks", ""))
        size = drawn_size(choice_adapter(request, values.get("adapter_choice", "")), values)
        video = render_reference(drawn, size)
    except TracksRefused as refused:
        return render(request, RENDERED, {"tracks_error": str(refused)})
    return render(request, RENDERED, {"rendered": as_data_url(video), "rendered_size": size.describe(),
                                      "rendered_count": len(drawn.tracks)})


@login_required
@require_http_methods(["GET", "POST"])
def tracks_from_clip(request: AuthedRequest) -> HttpResponse:
    """Follow the points of a clip (uploaded, or one of the creator's) to start the canvas from its motion; asked
    with GET, the creator's dataset clips to choose from (the Studio page loads them once it is shown)."""
    if request.method == "GET":
        clips = (ClipPair.objects.filter(dataset__owner=request.user).exclude(target_file="")
                 .select_related("dataset").order_by("dataset__name", "position", "name")[:300])
        return render(request, CLIP_CHOICES, {"track_clips": clips})
    try:
        problem = creator_problem(Extraction.Method.TRACKS)
        if problem:
            raise ExtractionError(problem)
        source, name, sha, owns = clip_source(request)
        extraction = request_extraction(request.user, Extraction.Method.TRACKS, {}, source, name, sha, owns_source=owns)
    except ExtractionError as error:
        return render(request, FROM_CLIP, {"clip_error": str(error)})
    return render(request, FROM_CLIP, _clip_context(request, extraction))


@login_required
@require_GET
def tracks_from_clip_status(request: AuthedRequest, extraction_id: int) -> HttpResponse:
    """The clip's tracks while they are made; once made, their keypoints on the canvas's size and time."""
    return render(request, FROM_CLIP, _clip_context(request, _get_tracks_for_user(request, extraction_id)))


def _canvas(request: AuthedRequest) -> tuple[int, int, int, float]:
    """The canvas's width, height, frames and fps, as its script sends them (sane values when it does not)."""
    def number(name: str, default: float, low: float, high: float) -> float:
        try:
            value = float(request.GET.get(name) or request.POST.get(name) or default)
        except ValueError:
            return default
        return min(max(value, low), high)

    return (int(number("canvas_width", 256, 1, 4096)), int(number("canvas_height", 160, 1, 4096)),
            int(number("canvas_frames", 25, 2, 1000)), number("canvas_fps", 24, 1, 60))


def _clip_context(request: AuthedRequest, extraction: Extraction) -> dict[str, Any]:
    context: dict[str, Any] = {"extraction": extraction, "canvas": _canvas(request)}
    if extraction.state == Extraction.State.DONE:
        try:
            context["clip_tracks"] = clip_keypoints(extraction, *_canvas(request))
        except TracksRefused as error:
            context["clip_error"] = str(error)
    return context
