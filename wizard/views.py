"""The wizard: Recipe → Clips → Settings → Launch. Every object is fetched through a `_get_x_for_user` helper."""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from typing import IO, Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.delivery import safe_content_type, serve_file, serve_made_file
from config.requests import AuthedRequest
from datasets import caption_edits, export, resumable, services, splitting
from datasets import limits as wizard_limits
from datasets.models import ClipPair, Dataset, DatasetFile
from datasets.recipes import RECIPES, get_recipe
from datasets.zipsafe import UnsafeArchive
from engine.bases import BASES
from training.models import TrainingRun
from training.models_config import available_bases
from training.runs import RunStateError, launch_run
from wizard import derive
from wizard.drafts import clip_facts, plan_for, settings_of
from wizard.forms import (
    CaptionForm,
    DatasetForm,
    SettingsForm,
    UploadForm,
    base_choices,
    estimate_for,
    initial_from,
    without_shape,
)
from wizard.models import TrainingDraft
from wizard.plan import (
    TRAINING_PRESETS,
    TrainingSettings,
    preset_settings,
    starting_settings,
    to_train_config,
    training_clips,
)
from wizard.review import DatasetReview, review_dataset
from wizard.uploads import SizeCapHandler

STEPS = (("recipe", "Recipe"), ("clips", "Clips"), ("settings", "Settings"), ("launch", "Launch"))


# --- Ownership: another creator's objects are 404, never 403 (no hint that they exist).


def _get_draft_for_user(request: AuthedRequest, draft_id: int) -> TrainingDraft:
    return get_object_or_404(TrainingDraft.objects.select_related("dataset"), pk=draft_id, owner=request.user)


def _get_dataset_for_user(request: AuthedRequest, dataset_id: int) -> Dataset:
    return get_object_or_404(Dataset, pk=dataset_id, owner=request.user)


def _get_pair_for_user(request: AuthedRequest, draft: TrainingDraft, pair_id: int) -> ClipPair:
    return get_object_or_404(ClipPair, pk=pair_id, dataset=draft.dataset, dataset__owner=request.user)


def _get_file_for_user(request: AuthedRequest, file_id: int) -> DatasetFile:
    return get_object_or_404(DatasetFile.objects.select_related("dataset"), pk=file_id, dataset__owner=request.user)


# --- Helpers


def _step_context(draft: TrainingDraft, current: str) -> dict[str, Any]:
    names = [name for name, _ in STEPS]
    # A pair that needs attention marks the Clips step in every step's bar, never "done" in green.
    needs_attention = {"clips"} if draft.dataset.pairs.filter(status=ClipPair.Status.ERROR).exists() else set()
    return {
        "draft": draft,
        "dataset": draft.dataset,
        "recipe": get_recipe(draft.dataset.recipe),
        "steps": [
            {"name": name, "label": label, "number": i + 1, "url": reverse(f"wizard:{name}", args=[draft.pk]),
             "current": name == current, "done": names.index(current) > i, "attention": name in needs_attention}
            for i, (name, label) in enumerate(STEPS)
        ],
    }


def _clips_context(draft: TrainingDraft) -> dict[str, Any]:
    """The clips step's context: references made on the server and captions need theirs on every partial."""
    # breaks the cycle wizard.views_derive -> wizard.views -> wizard.views_derive
    from wizard.views_derive import derive_context

    return {**_step_context(draft, "clips"), **derive_context(draft)}


def _remember_step(draft: TrainingDraft, step: str) -> None:
    if draft.step != step:
        draft.step = step
        draft.save(update_fields=["step", "updated_at"])


def _new_draft(owner: Any, dataset: Dataset) -> TrainingDraft:
    count = TrainingDraft.objects.filter(owner=owner, dataset=dataset).count()
    name = dataset.name if count == 0 else f"{dataset.name} · training {count + 1}"
    return TrainingDraft.objects.create(owner=owner, dataset=dataset, name=name)


STEP_URLS = {
    "recipe": "wizard:recipe", "dataset": "wizard:clips", "config": "wizard:settings", "launch": "wizard:launch",
}


# --- Start: the recipe catalogue


@login_required
@require_GET
def index(request: AuthedRequest) -> HttpResponse:
    drafts = TrainingDraft.objects.filter(owner=request.user, run__isnull=True).select_related("dataset")[:20]
    datasets = Dataset.objects.filter(owner=request.user).prefetch_related("pairs")[:20]
    return render(request, "wizard/index.html", {"recipes": RECIPES.values(), "drafts": drafts, "datasets": datasets,
                                                 "derived_here": derive.derived_here()})


@login_required
@require_GET
def recipe_detail(request: AuthedRequest, slug: str) -> HttpResponse:
    if slug not in RECIPES:
        raise Http404("No such recipe.")
    recipe = RECIPES[slug]
    # A note on a base this server does not offer would only puzzle the creator.
    offered = available_bases()
    base_notes = [note for base, note in recipe.base_notes if base in offered]
    return render(request, "wizard/recipe_detail.html",
                  {"recipe": recipe, "derived_here": derive.derived_here(), "starting": starting_settings(recipe),
                   "base_notes": base_notes})


@login_required
@require_POST
def start(request: AuthedRequest) -> HttpResponse:
    slug = request.POST.get("recipe", "")
    if slug not in RECIPES:
        messages.error(request, "Choose one of the recipes to start.")
        return redirect("wizard:index")
    recipe = RECIPES[slug]
    with transaction.atomic():
        dataset = Dataset.objects.create(
            owner=request.user, recipe=slug, trigger_phrase=recipe.trigger_phrase,
            name=f"{recipe.name} · {timezone.localdate():%d %b %Y}",
        )
        draft = _new_draft(request.user, dataset)
    return redirect("wizard:clips", draft.pk)


@login_required
@require_http_methods(["GET", "POST"])
def recipe_step(request: AuthedRequest, draft_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    if request.method == "POST":
        slug = request.POST.get("recipe", "")
        if slug in RECIPES and slug != draft.dataset.recipe:
            dataset = draft.dataset
            if dataset.runs.exists():
                messages.error(request, "This dataset was already trained with its recipe. Start a new training "
                               "from the recipe list to use another recipe.")
                return redirect("wizard:recipe", draft.pk)
            old = get_recipe(dataset.recipe)
            dataset.recipe = slug
            if dataset.trigger_phrase in ("", old.trigger_phrase):
                dataset.trigger_phrase = RECIPES[slug].trigger_phrase
            dataset.save()
            draft.settings = {}  # the new recipe's defaults apply
            draft.save()
            for pair in dataset.pairs.all():  # image vs video references are checked differently
                ClipPair.objects.filter(pk=pair.pk).update(status=ClipPair.Status.PENDING, messages=[])
            services.sync_pairs(dataset)  # lone clips become pairs (or orphans) as the new recipe says
            services.schedule_checks(dataset, wizard_limits.current())
        return redirect("wizard:clips", draft.pk)
    _remember_step(draft, TrainingDraft.Step.RECIPE)
    return render(request, "wizard/recipe_step.html", {**_step_context(draft, "recipe"), "recipes": RECIPES.values(),
                                                       "derived_here": derive.derived_here()})


@login_required
@require_GET
def resume(request: AuthedRequest, draft_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    if draft.run_id:
        return redirect("run_detail", draft.run_id)
    return redirect(STEP_URLS.get(draft.step, "wizard:clips"), draft.pk)


# --- Clips


def _review(draft: TrainingDraft) -> DatasetReview:
    """The pairs as the Clips step shows them: at the draft's plan, the one the Launch step summarises."""
    return plan_for(draft).review


@login_required
@require_http_methods(["GET", "POST"])
def clips_step(request: AuthedRequest, draft_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    form = DatasetForm(request.POST or None, instance=draft.dataset)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Saved.")
        return redirect("wizard:clips", draft.pk)
    _remember_step(draft, TrainingDraft.Step.DATASET)
    context = {**_clips_context(draft), "form": form, "review": _review(draft),
               "limits": wizard_limits.current(), "unfinished": resumable.unfinished(draft.dataset),
               "caption_undo": bool(request.session.get(caption_edits.undo_key(draft.dataset_id)))}
    return render(request, "wizard/clips_step.html", context)


@login_required
@require_GET
def pairs_partial(request: AuthedRequest, draft_id: int) -> HttpResponse:
    """The pair list alone, which htmx asks for every 2 s while pairs are checked: only what it renders (the
    review, the recipe, the kinds of reference each pair can be made again with), not the step bar (a query of its
    own) or the rest of the page."""
    # breaks the cycle wizard.views_derive -> wizard.views -> wizard.views_derive
    from wizard.views_derive import derive_panels

    draft = _get_draft_for_user(request, draft_id)
    context = {"draft": draft, "recipe": get_recipe(draft.dataset.recipe),
               "derive_panels": derive_panels(draft.dataset), "review": _review(draft)}
    return render(request, "wizard/clips_step.html#pairs", context)


def _incoming(named: list[tuple[str, UploadedFile]]) -> list[services.Incoming]:
    return [services.Incoming(services.clean_name(name), cast(IO[bytes], upload.file), upload.size or 0)
            for name, upload in named]


@csrf_exempt  # upload handlers must be set before the CSRF check reads the body; checked just below
@login_required
@require_POST
def upload(request: AuthedRequest, draft_id: int) -> HttpResponse:
    limits = wizard_limits.current()
    cap = SizeCapHandler(request, limits.max_file_bytes)
    request.upload_handlers = [cap, *request.upload_handlers]
    return _upload(request, draft_id, limits, cap)


@csrf_protect
def _upload(request: AuthedRequest, draft_id: int, limits: wizard_limits.Limits, cap: SizeCapHandler) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    form = UploadForm(request.POST, request.FILES)
    problems = [f"{name} is larger than the {limits.max_file_bytes // 1024**2} MB limit per file."
                for name in cap.too_big]
    outcome = services.UploadOutcome()
    if not form.is_valid() and not problems:
        problems += [str(error) for errors in form.errors.values() for error in errors]
    if not problems:
        try:
            named = form.named_files(request.POST.getlist("paths"))
            outcome = services.store_incoming(draft.dataset, _incoming(named), limits)
        except services.UploadRefused as refused:
            problems = refused.problems
        except UnsafeArchive as unsafe:
            problems = [str(unsafe)]
    if not problems:
        services.schedule_checks(draft.dataset, limits)
    return _upload_response(request, draft, outcome, problems)


def _upload_response(request: AuthedRequest, draft: TrainingDraft, outcome: services.UploadOutcome,
                     problems: list[str]) -> HttpResponse:
    wants_json = "application/json" in request.headers.get("Accept", "")
    if wants_json:
        return JsonResponse({"ok": not problems, "problems": problems, "added": outcome.added,
                             "replaced": outcome.replaced, "ignored": outcome.ignored},
                            status=200 if not problems else 400)
    if problems:
        for problem in problems:
            messages.error(request, problem)
        messages.error(request, "Nothing from this upload was kept. Fix the files above and upload them again.")
    else:
        stored = len(outcome.added) + len(outcome.replaced)
        messages.success(request, f"{stored} file{'s' if stored != 1 else ''} uploaded.")
    return redirect("wizard:clips", draft.pk)


@login_required
@require_POST
def save_caption(request: AuthedRequest, draft_id: int, pair_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    pair = _get_pair_for_user(request, draft, pair_id)
    form = CaptionForm(request.POST)
    if form.is_valid():
        pair.caption = form.cleaned_data["caption"].strip()
        pair.caption_typed, pair.caption_auto = True, False
        pair.save(update_fields=["caption", "caption_typed", "caption_auto"])
    if request.htmx:
        review = _review(draft)
        view = next(v for v in review.pairs if v.pair.pk == pair.pk)
        return render(request, "wizard/clips_step.html#pair", {**_clips_context(draft), "view": view,
                                                                "saved": form.is_valid()})
    messages.success(request, f"Caption of “{pair.name}” saved.")
    return redirect(reverse("wizard:clips", args=[draft.pk]) + f"#pair-{pair.pk}")


@login_required
@require_POST
def split_all(request: AuthedRequest, draft_id: int) -> HttpResponse:
    """Split every pair whose target changes shot, each on a `cpu` worker."""
    draft = _get_draft_for_user(request, draft_id)
    started, refused = 0, []
    for view in _review(draft).splittable:
        try:
            splitting.start_split(view.pair)
            started += 1
        except splitting.SplitRefused as reason:
            refused.append(str(reason))
    if started:
        messages.success(request, f"Cutting {started} pair{'s' if started != 1 else ''} into their shots. Each shot "
                         "becomes a pair of its own, checked like any other.")
    for problem in refused[:3]:
        messages.error(request, problem)
    if not started and not refused:
        messages.info(request, "No pair changes shot part-way through: nothing to split.")
    return redirect(reverse("wizard:clips", args=[draft.pk]) + "#pairs")


@login_required
@require_POST
def split_pair(request: AuthedRequest, draft_id: int, pair_id: int) -> HttpResponse:
    """Cut a pair at its target's shot changes into one pair per shot (on a `cpu` worker)."""
    draft = _get_draft_for_user(request, draft_id)
    pair = _get_pair_for_user(request, draft, pair_id)
    try:
        count = splitting.start_split(pair)
    except splitting.SplitRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Cutting “{pair.name}” into {count} shots. Each becomes a pair of its own, "
                         "checked like any other; its caption starts as the clip's.")
    return redirect(reverse("wizard:clips", args=[draft.pk]) + f"#pair-{pair.pk}")


@login_required
@require_POST
def delete_pair(request: AuthedRequest, draft_id: int, pair_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    pair = _get_pair_for_user(request, draft, pair_id)
    for source in (pair.target_source, pair.reference_source, pair.voice_source):
        if source is not None:
            services.delete_file(source)
    messages.success(request, f"Pair “{pair.name}” removed.")
    return redirect("wizard:clips", draft.pk)


@login_required
@require_POST
def delete_file(request: AuthedRequest, draft_id: int, file_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    record = _get_file_for_user(request, file_id)
    if record.dataset_id != draft.dataset_id:
        raise Http404("No such file in this dataset.")
    services.delete_file(record)
    messages.success(request, f"{record.name} removed.")
    return redirect("wizard:clips", draft.pk)


# Sound types a voice clip is served as (config.delivery's safe types are videos and images): never a page's type.
AUDIO_TYPES = {"audio/x-wav", "audio/wav", "audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/flac",
               "audio/x-aiff"}


def _audio_type(name: str) -> str:
    guessed = mimetypes.guess_type(name)[0]
    return guessed if guessed in AUDIO_TYPES else "audio/mpeg"


@login_required
@require_GET
def media(request: AuthedRequest, file_id: int) -> HttpResponseBase:
    record = _get_file_for_user(request, file_id)
    name = PurePosixPath(record.name).name
    if record.kind == DatasetFile.Kind.AUDIO:
        return serve_file(request, record.file, _audio_type(name))
    if record.kind not in (DatasetFile.Kind.VIDEO, DatasetFile.Kind.IMAGE):
        raise Http404("Only clips, images and voice clips are shown.")
    return serve_file(request, record.file, safe_content_type(record.kind, name))


@login_required
@require_GET
def preview(request: AuthedRequest, file_id: int) -> HttpResponseBase:
    record = _get_file_for_user(request, file_id)
    return serve_made_file(request, record.preview, "video/mp4", "No preview copy: the clip plays as it is.")


@login_required
@require_GET
def poster(request: AuthedRequest, file_id: int) -> HttpResponseBase:
    record = _get_file_for_user(request, file_id)
    return serve_made_file(request, record.poster, "image/jpeg", "No preview image yet.")


# --- Settings


def _settings_form(draft: TrainingDraft, data: Any = None, initial: dict[str, Any] | None = None) -> SettingsForm:
    pairs = list(draft.dataset.pairs.order_by("position", "name"))
    available = {p.pk: int(p.target_meta["frames"]) for p in pairs if p.target_meta.get("frames")}
    return SettingsForm(data, initial=initial, pairs=pairs, available=available)


def _default_validation(values: TrainingSettings, draft: TrainingDraft) -> TrainingSettings:
    """Two sample prompts from the first captioned pairs, so samples work without any typing."""
    if values.validation_pairs or values.validation_prompts:
        return values
    chosen = [p for p in draft.dataset.pairs.order_by("position", "name") if p.caption.strip()][:2]
    values.validation_pairs = [p.pk for p in chosen]
    values.validation_prompts = [p.caption.strip() for p in chosen]
    return values


@login_required
@require_http_methods(["GET", "POST"])
def settings_step(request: AuthedRequest, draft_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    action = request.POST.get("action", "save")
    if request.method == "POST" and action == "preset":
        preset = request.POST.get("preset", draft.preset)
        values = preset_settings(preset, get_recipe(draft.dataset.recipe), clip_facts(draft.dataset),
                                 base=request.POST.get("base", ""))  # the form checks the base with the rest
        values.trigger_phrase = request.POST.get("trigger_phrase", values.trigger_phrase)
        initial = initial_from(_default_validation(values, draft), preset)
        chosen = _settings_form(draft, initial)
        if chosen.is_valid():  # a chosen preset is kept like any valid change: Clips and Launch follow it at once
            draft.preset = chosen.cleaned_data["preset"]
            draft.settings = chosen.settings().as_dict()
            draft.save()
        form = _settings_form(draft, initial=initial)
        return _render_settings(request, draft, form, values, template="settings-form" if request.htmx else None)
    if request.method == "POST":
        data = request.POST
        if action.startswith("remove-") and action[len("remove-"):].isdigit():
            # The creator removed a shape: its clips go to the closest remaining one (the page says which).
            data = without_shape(request.POST, int(action[len("remove-"):]))
            action = "reshape"
        form = _settings_form(draft, data)
        valid = form.is_valid()
        if valid:  # every valid change is kept: leaving the page loses nothing
            draft.preset = form.cleaned_data["preset"]
            draft.settings = form.settings().as_dict()
            draft.save()
        if action == "estimate":
            return _render_settings(request, draft, form, form.settings() if valid else None, template="estimate")
        if action == "reshape":
            return _render_settings(request, draft, form, form.settings() if valid else None,
                                    template="settings-form" if request.htmx else None)
        if valid:
            return redirect("wizard:launch", draft.pk)
        return _render_settings(request, draft, form, None, template="settings-form" if request.htmx else None,
                                status=200 if request.htmx else 422)
    _remember_step(draft, TrainingDraft.Step.CONFIG)
    values = _default_validation(settings_of(draft), draft)
    form = _settings_form(draft, initial=initial_from(values, draft.preset))
    return _render_settings(request, draft, form, values)


def _render_settings(request: AuthedRequest, draft: TrainingDraft, form: SettingsForm,
                     values: TrainingSettings | None, template: str | None = None, status: int = 200) -> HttpResponse:
    """The whole page, or one of its partials (`settings-form`, `estimate`) for htmx."""
    metas = list(draft.dataset.pairs.values_list("target_meta", flat=True))
    estimate = estimate_for(values, metas) if values else None
    context = {**_step_context(draft, "settings"), "form": form, "estimate": estimate,
               "presets": TRAINING_PRESETS.values(), "pair_count": len(metas), "base_choices": base_choices(),
               "voiced": services.has_voices(draft.dataset)}
    name = f"wizard/settings_step.html#{template}" if template else "wizard/settings_step.html"
    return render(request, name, context, status=status)


# --- Launch


@login_required
@require_http_methods(["GET", "POST"])
def launch_step(request: AuthedRequest, draft_id: int) -> HttpResponse:
    draft = _get_draft_for_user(request, draft_id)
    if draft.run_id:
        if request.method == "POST":
            return redirect("run_detail", draft.run_id)
        messages.info(request, "This training was already launched.")
    plan = plan_for(draft)  # the Clips step's notes come from the same plan
    values, review = plan.values, plan.review
    form = _settings_form(draft, initial_from(values, draft.preset))
    settings_ok = form.is_valid()
    if request.method == "POST" and not draft.run_id:
        if review.can_launch and settings_ok:
            run = _launch(request, draft, values)
            if run is not None:
                return redirect("run_detail", run.pk)
        else:
            messages.error(request, "This training cannot start yet: see what needs attention below.")
    _remember_step(draft, TrainingDraft.Step.LAUNCH)
    context = {**_step_context(draft, "launch"), "values": values, "review": review, "settings_form": form,
               "settings_ok": settings_ok, "estimate": estimate_for(values, review.target_metas),
               "training_clips": training_clips(review.target_metas, values.frames, values.fps, values.whole_clips),
               "preset": TRAINING_PRESETS.get(draft.preset), "sample_pairs": _sample_pairs(draft, values),
               "base_choices": base_choices(), "voiced": services.has_voices(draft.dataset)}
    return render(request, "wizard/launch_step.html", context)


def _sample_pairs(draft: TrainingDraft, values: TrainingSettings) -> list[tuple[str, str]]:
    names = dict(draft.dataset.pairs.values_list("pk", "name"))
    return [(names.get(pk, "a removed pair"), prompt)
            for pk, prompt in zip(values.validation_pairs, values.validation_prompts, strict=False)]


def _launch(request: AuthedRequest, draft: TrainingDraft, values: TrainingSettings) -> TrainingRun | None:
    recipe = get_recipe(draft.dataset.recipe)
    references = dict(draft.dataset.pairs.values_list("pk", "reference_file"))
    names = [references[pk] for pk in values.validation_pairs if pk in references]
    voices = dict(draft.dataset.pairs.values_list("pk", "voice_file"))
    voice_names = ([voices[pk] for pk in values.validation_pairs if pk in references]
                   if services.has_voices(draft.dataset) else None)
    try:
        with transaction.atomic():
            locked = TrainingDraft.objects.select_for_update().get(pk=draft.pk)
            if locked.run_id:  # a double click: the first one launched it
                return locked.run
            run = TrainingRun.objects.create(
                owner=request.user, dataset=draft.dataset, name=draft.name, recipe=recipe.slug, base=values.base,
                config=to_train_config(values, recipe, names, f"run-{draft.pk}", voice_names),
                total_steps=values.steps,
            )
            locked.run = run
            locked.save(update_fields=["run", "updated_at"])
            launch_run(run)
    except RunStateError as err:
        messages.error(request, str(err))
        return None
    return run


# --- Datasets: reuse for a new training


@login_required
@require_GET
def dataset_detail(request: AuthedRequest, dataset_id: int) -> HttpResponse:
    dataset = _get_dataset_for_user(request, dataset_id)
    exported, left_out = export.exported_pairs(dataset)
    context = {"dataset": dataset, "review": review_dataset(dataset), "recipe": get_recipe(dataset.recipe),
               "drafts": dataset.drafts.filter(owner=request.user).select_related("run"),
               "exported": len(exported), "left_out": len(left_out), **_train_again_context(request, dataset)}
    return render(request, "wizard/dataset_detail.html", context)


def _train_again_context(request: AuthedRequest, dataset: Dataset) -> dict[str, Any]:
    """The runs on these clips made outside the wizard (trained again on another base, continued), and the bases
    the latest ended run's settings can train on next: every other base this server offers (none without a run)."""
    runs = TrainingRun.objects.filter(owner=request.user, dataset=dataset)
    latest = (runs.filter(state__in=TrainingRun.FINAL_STATES)
              .order_by(F("finished_at").desc(nulls_last=True), "-pk").first())
    return {
        "other_runs": runs.filter(wizard_draft__isnull=True).order_by("-created_at"),
        "latest_ended": latest,
        "train_again_bases": [(name, BASES[name].title) for name in available_bases()
                              if latest is not None and name != latest.base],
    }


@login_required
@require_GET
def dataset_download(request: AuthedRequest, dataset_id: int) -> HttpResponseBase:
    dataset = _get_dataset_for_user(request, dataset_id)
    pairs, _ = export.exported_pairs(dataset)
    if not pairs:
        messages.error(request, "There is nothing to download yet: no pair of this dataset is ready to train.")
        return redirect("wizard:dataset", dataset.pk)
    response = StreamingHttpResponse(export.zip_chunks(dataset, pairs), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, f"{export.folder_name(dataset)}.zip") or ""
    return response


@login_required
@require_POST
def dataset_delete(request: AuthedRequest, dataset_id: int) -> HttpResponse:
    dataset = _get_dataset_for_user(request, dataset_id)
    try:
        services.delete_dataset(dataset)
    except services.DatasetInUse as error:
        messages.error(request, str(error))
        return redirect("wizard:dataset", dataset.pk)
    messages.success(request, f"The dataset “{dataset.name}” was deleted, with its clips.")
    return redirect("dashboard")


@login_required
@require_POST
def new_training(request: AuthedRequest, dataset_id: int) -> HttpResponse:
    dataset = _get_dataset_for_user(request, dataset_id)
    draft = _new_draft(request.user, dataset)
    return redirect("wizard:settings", draft.pk)
