"""The Studio: try an adapter on a reference video, watch it generate, compare, reuse settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.delivery import serve_file, serve_poster
from config.requests import AuthedRequest
from datasets.models import ClipPair
from engine.media import fps_text, write_poster
from studio import masks
from studio.adapters import adapter_for_checkpoint
from studio.forms import GenerationForm
from studio.generation import (
    FrameRateDefault,
    GenerationRefused,
    blank_rate,
    cancel_generation,
    create_generation,
    defaults_for,
    delete_generation,
    expects_voice,
    fast_preview_available,
    prompt_with_trigger,
    reference_rate,
    trained_frame_rate,
    trained_rate,
)
from studio.models import Adapter, Generation
from studio.tracks import (
    TracksRefused,
    canvas_json,
    drawn_reference_name,
    drawn_size,
    read_drawn,
    reference_upload,
)
from studio.views.adapters import get_adapter_for_user
from studio.views.controls import made_controls, reference_from_control
from training.models import Checkpoint
from training.models_config import available_bases

if TYPE_CHECKING:  # numpy comes with it: imported where tracks are drawn (studio.tracks.read_drawn)
    from prep.extract.drawn_tracks import DrawnTracks

MEDIA_FIELDS = {"reference": "reference_preview_file", "output": "output_file", "baseline": "baseline_file"}


def _get_checkpoint_for_user(request: AuthedRequest, checkpoint_id: Any) -> Checkpoint:
    checkpoints = Checkpoint.objects.select_related("run").exclude(adapter_file="")
    if not request.user.is_staff:
        checkpoints = checkpoints.filter(run__owner=request.user)
    try:
        return get_object_or_404(checkpoints, pk=int(checkpoint_id))
    except (TypeError, ValueError):
        raise Http404("No such checkpoint") from None


def _get_generation_for_user(request: AuthedRequest, generation_id: int) -> Generation:
    generations = Generation.objects.select_related("adapter", "effect_adapter")
    if not request.user.is_staff:
        generations = generations.filter(owner=request.user)
    return get_object_or_404(generations, pk=generation_id)


def _get_own_generation(request: AuthedRequest, generation_id: int, doing: str) -> Generation:
    """A generation its creator acts on: operators may look at others' generations, not cancel or delete them."""
    generation = _get_generation_for_user(request, generation_id)
    if generation.owner_id != request.user.pk:
        raise Http404(f"Only its creator can {doing} a generation.")
    return generation


def _get_pair_for_user(request: AuthedRequest, pair_id: Any) -> ClipPair:
    pairs = ClipPair.objects.select_related("dataset").exclude(reference_file="")
    if not request.user.is_staff:
        pairs = pairs.filter(dataset__owner=request.user)
    try:
        return get_object_or_404(pairs, pk=int(pair_id))
    except (TypeError, ValueError):
        raise Http404("No such clip") from None


def _int_or_404(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("Not found") from None


def choice_adapter(request: AuthedRequest, choice: str) -> Adapter | None:
    """`adapter-ID` or `checkpoint-ID` (a checkpoint becomes an Adapter on first use)."""
    kind, _, pk = (choice or "").partition("-")
    if kind == "adapter":
        return get_adapter_for_user(request, pk)
    if kind == "checkpoint":
        return adapter_for_checkpoint(_get_checkpoint_for_user(request, pk))
    return None


def _rate(rate: FrameRateDefault | None) -> dict[str, str]:
    """A choice's frame rate for the form (`fps` "" when the choice does not fix one) and the help saying so."""
    if rate is None or rate.fps is None:
        return {"fps": "", "fps_help": ""}
    return {"fps": fps_text(rate.fps), "fps_help": rate.help}


def _adapter_choices(request: AuthedRequest) -> list[dict[str, Any]]:
    """Every IC-LoRA the creator can try: their adapters, then checkpoints that are not adapters yet, each with the
    frame rate it was trained at when known."""
    owner = request.user
    choices = []
    for a in Adapter.objects.filter(owner=owner, kind=Adapter.Kind.ICLORA).order_by("-created_at")[:200]:
        trained = trained_frame_rate(a)
        choices.append({"value": f"adapter-{a.pk}", "label": a.name, "detail": _adapter_detail(a),
                        "trigger": a.trigger_phrase, "voice": expects_voice(a),
                        **_rate(trained_rate(a.name, trained) if trained else None)})
    checkpoints = (Checkpoint.objects.filter(run__owner=owner, adapter__isnull=True).exclude(adapter_file="")
                   .select_related("run").order_by("-created_at")[:200])
    for c in checkpoints:
        config = c.run.config if isinstance(c.run.config, dict) else {}
        label = f"{c.run.name} · step {c.step}"
        fps = float((config.get("bucket") or {}).get("fps") or 0)
        detail = f"checkpoint · {c.run.get_base_display()}" if len(available_bases()) > 1 else "checkpoint"
        voice = bool((config.get("data") or {}).get("reference_audio"))
        detail += " · speaks: needs a voice" if voice else ""
        choices.append({"value": f"checkpoint-{c.pk}", "label": label, "detail": detail,
                        "trigger": (config.get("data") or {}).get("trigger", ""),
                        "voice": voice,
                        **_rate(trained_rate(label, fps) if fps > 0 else None)})
    return choices


def _reference_choices(pairs: Any, controls: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The dataset clips and control videos the creator can use as the reference, each with its own frame rate."""
    def choice(value: int, label: str, fps: Any) -> dict[str, Any]:
        rate = reference_rate(float(fps), label) if isinstance(fps, int | float) and fps > 0 else None
        return {"value": str(value), "label": label, **_rate(rate)}

    pair_choices = [choice(pair.pk, f"{pair.dataset.name} · {pair.name}", (pair.reference_meta or {}).get("fps")
                           if (pair.reference_meta or {}).get("frames", 0) != 1 else None) for pair in pairs]
    control_choices = [choice(c.pk, f"{c.get_method_display()} of {c.source_name}", (c.report or {}).get("fps"))
                       for c in controls]
    return pair_choices, control_choices


def _frame_rate(values: dict[str, Any], *choices: tuple[str, list[dict[str, Any]]]) -> dict[str, str]:
    """The frame rate a blank field becomes with what the form has chosen: the adapter's training rate, else the
    chosen control video's or dataset clip's own rate, else the reference's own once it is read (`choices` is
    (field, its choices), in that order)."""
    for field, options in choices:
        chosen = next((c for c in options if c["value"] == str(values.get(field) or "")), None)
        if chosen is not None and chosen["fps"]:
            return {"fps": chosen["fps"], "fps_help": chosen["fps_help"]}
    return {"fps": "", "fps_help": blank_rate().help}


def _adapter_detail(adapter: Adapter) -> str:
    parts = [adapter.get_source_display().lower()]
    if adapter.rank:
        parts.append(f"rank {adapter.rank}")
    if adapter.reference_downscale_factor > 1:
        parts.append(f"reference at 1/{adapter.reference_downscale_factor} size")
    if expects_voice(adapter):
        parts.append("speaks: needs a voice")
    if len(available_bases()) > 1 or adapter.base not in available_bases():
        parts.append(adapter.get_base_display())  # the model the Studio runs it on
    return " · ".join(parts)


def _initial_values(request: AuthedRequest) -> dict[str, Any]:
    """Form values for a fresh page: preselected adapter, or a generation's settings to reuse."""
    values: dict[str, Any] = {"adapter_choice": "", "mask_preset": "whole", "mask_fade_frames": 8,
                              "mask_left": 25, "mask_top": 25, "mask_right": 75, "mask_bottom": 75,
                              "adapter_scale": 1.0, "attention_strength": 1.0, "effect_scale": 0.8, "compare": True,
                              "fit_reference": True,
                              "negative_prompt": "blurry, distorted, flickering, low quality"}
    adapter: Adapter | None = None
    if request.GET.get("reuse"):
        reuse = request.GET["reuse"]
        generation = _get_generation_for_user(request, int(reuse) if reuse.isdigit() else 0)
        if generation.adapter is not None and generation.adapter.owner_id == request.user.pk:
            adapter = generation.adapter
            values["adapter_choice"] = f"adapter-{adapter.pk}"
        values.update(_defaults_values(adapter))
        s = generation.settings
        values.update({k: s[k] for k in ("seed", "num_frames", "height", "width", "frame_rate", "guidance_scale",
                                          "num_inference_steps", "adapter_scale", "attention_strength",
                                          "mask_preset", "mask_fade_frames", "mask_invert") if k in s})
        for edge in ("left", "top", "right", "bottom"):
            if f"mask_{edge}" in s:
                values[f"mask_{edge}"] = round(100 * float(s[f"mask_{edge}"]))
        values.update({"prompt": generation.prompt, "negative_prompt": generation.negative_prompt,
                       "compare": bool(s.get("compare")), "fit_reference": bool(s.get("fit_reference")),
                       "reused": generation, "drawn_tracks": canvas_json(generation.drawn_tracks)})
        if generation.effect_adapter_id:
            values["effect_choice"] = str(generation.effect_adapter_id)
            values["effect_scale"] = s.get("effect_scale", 0.8)
        return values
    if request.GET.get("control"):
        values["reference_control"] = request.GET["control"]
    if request.GET.get("choice"):  # back from making a control video: the adapter chosen before the detour
        adapter = choice_adapter(request, request.GET["choice"])
    if adapter is not None:
        values["adapter_choice"] = f"adapter-{adapter.pk}"
    elif request.GET.get("adapter"):
        adapter = get_adapter_for_user(request, request.GET["adapter"])
        values["adapter_choice"] = f"adapter-{adapter.pk}"
    elif request.GET.get("checkpoint"):
        # "Try in Studio" on a checkpoint: it becomes an adapter now, so its metadata (trigger, size) is known.
        adapter = adapter_for_checkpoint(_get_checkpoint_for_user(request, request.GET["checkpoint"]))
        values["adapter_choice"] = f"adapter-{adapter.pk}"
    values.update(_defaults_values(adapter))
    if adapter is not None:
        values["prompt"] = prompt_with_trigger(adapter) + (" " if adapter.trigger_phrase else "")
    return values


def _defaults_values(adapter: Adapter | None) -> dict[str, Any]:
    """Starting values from the adapter; the frame rate is left to `_page_context`, which also knows the reference
    chosen."""
    d = defaults_for(adapter)
    return {"num_frames": d.num_frames, "width": d.width, "height": d.height, "num_inference_steps": d.steps,
            "guidance_scale": f"{d.guidance:g}"}


def _page_context(request: AuthedRequest, values: dict[str, Any], errors: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    pairs = (ClipPair.objects.filter(dataset__owner=request.user).exclude(reference_file="")
             .select_related("dataset").order_by("dataset__name", "position", "name")[:300])
    effects = Adapter.objects.filter(owner=request.user, kind=Adapter.Kind.EFFECT).order_by("-created_at")[:100]
    adapter_choices = _adapter_choices(request)
    pair_choices, control_choices = _reference_choices(pairs, made_controls(request.user))
    rate = _frame_rate(values, ("adapter_choice", adapter_choices), ("reference_control", control_choices),
                       ("reference_pair", pair_choices))
    values.setdefault("frame_rate", rate["fps"])  # a fresh page starts at the default; a sent form keeps its value
    chosen = next((c for c in adapter_choices if c["value"] == str(values.get("adapter_choice") or "")), None)
    return {
        "values": values, "errors": errors or {}, "adapter_choices": adapter_choices, "pairs": pair_choices,
        "effects": effects, "mask_presets": masks.MASK_PRESETS, "fast_preview": fast_preview_available(),
        "controls": control_choices, "frame_rate_help": rate["fps_help"], "blank_rate_help": blank_rate().help,
        "recent": Generation.objects.filter(owner=request.user).select_related("adapter")[:4],
        # The voice field is on the page when an adapter was trained with a voice, shown while such an adapter is
        # chosen (voice-recorder.js follows the choice); before any choice it is shown too (marked as for such
        # adapters), so a page without scripts can still send one.
        "voice_field": any(c["voice"] for c in adapter_choices),
        "voice_needed": "yes" if chosen and chosen["voice"] else "no" if chosen else "maybe",
    }


@login_required
@require_http_methods(["GET", "POST"])
def studio(request: AuthedRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "studio/studio/studio.html", _page_context(request, _initial_values(request)))

    values: dict[str, Any] = {key: request.POST.get(key, "") for key in request.POST}
    values["compare"] = "compare" in request.POST
    values["fit_reference"] = "fit_reference" in request.POST
    values["mask_invert"] = "mask_invert" in request.POST
    values["fast_preview"] = "fast_preview" in request.POST
    form = GenerationForm(request.POST, request.FILES)
    errors = {} if form.is_valid() else form.messages()
    adapter = choice_adapter(request, values.get("adapter_choice", ""))
    if adapter is None:
        errors["adapter"] = "Choose the adapter to try."
    effect = get_adapter_for_user(request, values["effect_choice"]) if values.get("effect_choice") else None
    reference: Any = request.FILES.get("reference_upload")
    reference_name = ""  # what the creator calls it; an upload keeps its own file name
    if reference is None and values.get("reference_pair"):
        pair = _get_pair_for_user(request, values["reference_pair"])
        reference, reference_name = pair.reference_file, f"{pair.name} ({pair.dataset.name})"
    if reference is None and values.get("reference_control"):
        reference, reference_name = reference_from_control(request, values["reference_control"])
    if reference is None and values.get("reuse_reference"):
        earlier = _get_generation_for_user(request, _int_or_404(values["reuse_reference"]))
        reference, reference_name = earlier.reference_file, str(earlier.settings.get("reference_name", ""))
    cleaned, voice_name = _with_earlier_voice(request, form, values)
    drawn = None
    if values.get("drawn_tracks"):
        drawn, drawn_error = _drawn(values["drawn_tracks"], reference is not None)
        if drawn_error:
            errors["tracks"] = drawn_error
    if adapter is not None:
        values["adapter_choice"] = f"adapter-{adapter.pk}"
    if not errors and drawn is not None:  # drawn at the size the generation is made at, which needs the adapter
        try:
            reference = reference_upload(drawn, drawn_size(adapter, values))
            reference_name = drawn_reference_name(drawn)
        except TracksRefused as refused:
            errors["tracks"] = str(refused)
    if not errors:  # what needs the adapter and the reference is checked once every field is readable
        assert adapter is not None
        try:
            generation = create_generation(request.user, adapter, cleaned, reference, effect, reference_name,
                                           drawn.as_dict() if drawn is not None else None, voice_name)
        except GenerationRefused as refused:
            errors.update(refused.errors)
        else:
            return redirect("studio_generation", generation.pk)
    return render(request, "studio/studio/studio.html", _page_context(request, values, errors), status=400)


def _with_earlier_voice(request: AuthedRequest, form: GenerationForm, values: dict[str, Any]
                        ) -> tuple[dict[str, Any], str]:
    """The form's values with the voice of the generation being reused (its box ticked, nothing new given), and what
    the creator called that voice."""
    cleaned = getattr(form, "cleaned_data", {})
    if "voice_upload" in request.FILES or not values.get("reuse_voice"):
        return cleaned, ""
    earlier = _get_generation_for_user(request, _int_or_404(values["reuse_voice"]))
    if not earlier.voice_file or earlier.voice is None:
        return cleaned, ""
    return {**cleaned, "voice_upload": earlier.voice_file}, str(earlier.voice.get("name", ""))


def _drawn(text: str, other_reference: bool) -> tuple[DrawnTracks | None, str]:
    """(the drawn tracks, checked; or None and why they cannot be the reference, in the creator's words)."""
    if other_reference:
        return None, ("You drew motion tracks and also chose a reference video: use one of them. Clear the tracks "
                      "(Delete all tracks), or leave the other reference out.")
    try:
        return read_drawn(text), ""
    except TracksRefused as refused:
        return None, str(refused)


def _detail_context(generation: Generation) -> dict[str, Any]:
    return {"generation": generation, "s": generation.settings}


@login_required
@require_GET
def generation_detail(request: AuthedRequest, generation_id: int) -> HttpResponse:
    generation = _get_generation_for_user(request, generation_id)
    return render(request, "studio/studio/generation.html", _detail_context(generation))


@login_required
@require_GET
def generation_status(request: AuthedRequest, generation_id: int) -> HttpResponse:
    """The status-and-results part of the generation page, rebuilt from the database (htmx polls it)."""
    generation = _get_generation_for_user(request, generation_id)
    return render(request, "studio/studio/generation.html#result", _detail_context(generation))


@login_required
@require_POST
def generation_delete(request: AuthedRequest, generation_id: int) -> HttpResponse:
    generation = _get_own_generation(request, generation_id, "delete")
    if not delete_generation(generation):
        messages.error(request, "This generation is still being made: cancel it first, then delete it.")
        return redirect("studio_generation", generation.pk)
    messages.success(request, "The generation was deleted.")
    return redirect("studio_gallery")


@login_required
@require_POST
def generation_cancel(request: AuthedRequest, generation_id: int) -> HttpResponse:
    generation = _get_own_generation(request, generation_id, "cancel")
    if not cancel_generation(generation):
        messages.info(request, "This generation had already finished.")
    generation.refresh_from_db()
    if request.htmx:
        return render(request, "studio/studio/generation.html#result", _detail_context(generation))
    return redirect("studio_generation", generation.pk)


def _media_field(request: AuthedRequest, generation_id: int, kind: str) -> tuple[Generation, FieldFile]:
    """The generation's video of `kind` (reference, output, baseline), if it was made and the creator may see it."""
    generation = _get_generation_for_user(request, generation_id)
    field = getattr(generation, MEDIA_FIELDS.get(kind, ""), None)
    if not field:
        raise Http404("Not made (yet)")
    return generation, field


@login_required
@require_GET
def generation_media(request: AuthedRequest, generation_id: int, kind: str) -> HttpResponseBase:
    generation, field = _media_field(request, generation_id, kind)
    name = f"generation-{generation.pk}-{kind}.mp4" if "download" in request.GET else None
    return serve_file(request, field, "video/mp4", download_name=name)


@login_required
@require_GET
def generation_poster(request: AuthedRequest, generation_id: int, kind: str) -> HttpResponseBase:
    """A still of the generation's video of `kind`, shown before it plays (made by the worker with the video)."""
    _generation, field = _media_field(request, generation_id, kind)
    return serve_poster(request, field, write_poster)


def _gallery_queryset(request: AuthedRequest) -> QuerySet[Generation]:
    return Generation.objects.filter(owner=request.user).select_related("adapter", "effect_adapter")


@login_required
@require_GET
def gallery(request: AuthedRequest) -> HttpResponse:
    page = Paginator(_gallery_queryset(request), 24).get_page(request.GET.get("page"))
    return render(request, "studio/studio/gallery.html", {"page": page})
