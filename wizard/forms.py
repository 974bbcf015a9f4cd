from __future__ import annotations

from typing import Any

from django import forms

from datasets.models import ClipPair, Dataset
from datasets.validation import Shape, largest_frames_at_most
from engine.bases import BASES
from engine.buckets import frames_at
from training.models import MeasuredSpeed
from training.models_config import available_bases, default_base, speed_model
from wizard.estimate import Estimate, Measured, estimate
from wizard.plan import (
    FPS_CHOICES,
    RANK_CHOICES,
    TRAINING_PRESETS,
    ShapeUse,
    TrainingSettings,
    cropped_notes,
    frames_problems,
    model_preset,
    orientation,
    sample_count,
    shape_uses,
    size_problems,
    training_clips,
    training_hardware,
)

MAX_SHAPES = 3  # one per orientation: landscape, portrait, square
SIZE_NAMES = [("width", "height")] + [(f"width_{n}", f"height_{n}") for n in range(2, MAX_SHAPES + 1)]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFiles(forms.FileField):
    """Several files under one name (the clips page sends `files` many times), cleaned one by one: a list of
    UploadedFile (Django's documented way to take multiple files)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        one = super().clean
        items = data if isinstance(data, list | tuple) and data else [data]  # none at all: `required` answers
        return [one(item, initial) for item in items]


class UploadForm(forms.Form):
    """Clips, references, captions, ZIPs or a manifest for the dataset; `paths` are the names with their folders
    (targets/clip.mp4) when a folder was dropped, one per file in the same order. The files themselves are judged by
    the datasets service (sniffed, paired, checked), which reads them."""

    # The page posts them as `files`. Django takes declared fields off the class, so `BaseForm.files` (the request's
    # files) is untouched; mypy sees only the class body.
    files = MultipleFiles(error_messages={"required": "Choose one or more files to upload."})  # type: ignore[assignment]
    paths = forms.CharField(required=False)

    def named_files(self, paths: list[str]) -> list[tuple[str, Any]]:
        """(name as uploaded, file) for each file: its folder path when the page sent one, else its own name."""
        return [(paths[i] if i < len(paths) and paths[i] else (upload.name or "unnamed"), upload)
                for i, upload in enumerate(self.cleaned_data["files"])]


class DatasetForm(forms.ModelForm[Dataset]):
    class Meta:
        model = Dataset
        fields = ["name", "trigger_phrase"]
        labels = {"name": "Dataset name", "trigger_phrase": "Trigger phrase"}
        help_texts = {
            "name": "Only you see it.",
            "trigger_phrase": "A word or two put in front of every caption, e.g. COLORIZE. Start your prompts with it "
            "later to switch the adapter's effect on. Leave empty if you do not want one.",
        }


class CaptionForm(forms.Form):
    caption = forms.CharField(
        label="Caption", required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Describe the scene, style, lighting and motion of the target, not the control signal.",
    )


def _number(**attrs: Any) -> forms.NumberInput:
    return forms.NumberInput(attrs=attrs)


# What each base model is, in one sentence a creator reads before choosing (engine.bases has the technical record).
BASE_SENTENCES = {
    "ltx-2.3": "Lightricks' LTX-2.3, the video model most IC-LoRA adapters are made for today; an adapter trained on "
               "it works with LTX-2.3 only.",
    "ltx-2.5": "Lightricks' newer LTX-2.5, which reads prompts with a new text encoder (Gemma 4); an adapter trained "
               "on it works with LTX-2.5 only.",
}


def base_choices() -> list[tuple[str, str, str]]:
    """(name, title, sentence) of each base this server offers, the default first."""
    return [(name, BASES[name].title, BASE_SENTENCES[name]) for name in available_bases()]


class SettingsForm(forms.Form):
    """The Config step. `pairs` are the dataset's pairs (for frame-length checks and validation choices)."""

    preset = forms.ChoiceField(
        label="Preset", choices=[(p.slug, p.label) for p in TRAINING_PRESETS.values()], widget=forms.RadioSelect,
        help_text="Start from a preset; open Advanced to change any detail.",
    )
    width = forms.IntegerField(
        label="Width (pixels)", min_value=64, max_value=2048, widget=_number(step=32),
        help_text="Clips are resized and centre-cropped to this width. A multiple of 32.",
    )
    height = forms.IntegerField(
        label="Height (pixels)", min_value=64, max_value=2048, widget=_number(step=32),
        help_text="Clips are resized and centre-cropped to this height. A multiple of 32.",
    )
    frames = forms.IntegerField(
        label="Frames per clip", min_value=9, max_value=257, widget=_number(step=8),
        help_text="How many frames each training clip has: 1 + a multiple of 8 "
        "(e.g. 49 ≈ 2 s, 81 ≈ 3.4 s, 121 ≈ 5 s at 24 fps). Shorter clips cannot be used.",
    )
    whole_clips = forms.BooleanField(
        label="Use all of each clip", required=False,
        help_text="A clip longer than this is cut into several training clips, one after another, so all of your "
        "footage teaches the adapter. Off: only the start of each clip is used. Preparing takes longer when on.",
    )
    fps = forms.TypedChoiceField(
        label="Frame rate", coerce=float, choices=[(f, f"{f:g} fps") for f in FPS_CHOICES],
        help_text="Clips are resampled to this rate. Generate at the same rate later.",
    )
    reference_downscale_factor = forms.TypedChoiceField(
        label="Reference size", coerce=int,
        choices=[(1, "Full size (same as the target)"), (2, "Half size (saves memory)")],
        help_text="A half-size reference saves memory and time; fine for depth, edges, pose and motion tracks "
        "(Lightricks trains its motion-track adapter so). Width and height must then be multiples of 64.",
    )
    rank = forms.TypedChoiceField(
        label="Adapter capacity (rank)", coerce=int, choices=[(r, str(r)) for r in RANK_CHOICES],
        help_text="How much the adapter can learn: 16–64 for control, 128 for identity. Higher is bigger and "
        "slower, and can memorise small datasets.",
    )
    learning_rate = forms.FloatField(
        label="Learning rate", min_value=1e-6, max_value=1e-2, widget=_number(step="any"),
        help_text="How big each learning step is. 0.0002 works for most recipes, 0.0001 for identity. "
        "Too high makes training unstable.",
    )
    steps = forms.IntegerField(
        label="Training steps", min_value=10, max_value=20000,
        help_text="How long to train. 2000–3000 is typical; look at the samples around step 500 and pick the "
        "checkpoint you like best, not just the last one.",
    )
    first_frame_probability = forms.FloatField(
        label="First-frame practice", min_value=0, max_value=0.5, widget=_number(step=0.05),
        help_text="How often (0–0.5) the adapter practises with the first frame given, so it also works when you "
        "start a video from an image. 0.1 is a good default.",
    )
    checkpoint_every = forms.IntegerField(
        label="Save a checkpoint every (steps)", min_value=10,
        help_text="A checkpoint is a usable adapter from that moment. The newest three are kept.",
    )
    validation_every = forms.IntegerField(
        label="Make a sample video every (steps)", min_value=0,
        help_text="Sample videos show what the adapter does so far. 0 makes samples only when you ask.",
    )
    trigger_phrase = forms.CharField(
        label="Trigger phrase", required=False, max_length=100,
        help_text="Put in front of every caption and stored in the adapter, e.g. COLORIZE.",
    )
    validation_pairs = forms.TypedMultipleChoiceField(
        label="Reference clips for samples", coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Sample videos are made from these pairs' references. Pick up to 3.",
    )
    validation_prompts = forms.CharField(
        label="Sample prompts", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One prompt per line, one for each reference clip chosen above, in the same order.",
    )
    hold_out_validation = forms.BooleanField(
        label="Keep the sample clips out of training", required=False,
        help_text="The samples then show how the adapter does on clips it has never seen, the way you will use "
                  "it. Those pairs are not trained on, so only do this with enough pairs left.",
    )

    def __init__(self, *args: Any, pairs: list[ClipPair], available: dict[int, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The choice of base model exists only when this server offers more than one, so the page shows what it sends.
        if len(available_bases()) > 1:
            self.fields["base"] = forms.CharField(
                label="Base model", required=False,
                help_text="The model the adapter is trained for. An adapter only works with the base model it was "
                "trained on.",
            )
        # Fields for the second and third shape exist only while they are in use, so the page shows what it sends.
        for n, (width, height) in enumerate(SIZE_NAMES[1:], 2):
            if self._value(width) not in (None, "") or self._value(height) not in (None, ""):
                self.fields[width] = _size_field("Width", n)
                self.fields[height] = _size_field("Height", n)
        self.pairs = pairs
        self.available = available  # pair id -> frames it gives at its own fps
        self.pair_fps = {p.pk: float(p.target_meta.get("fps") or 0) for p in pairs}
        choice_field = self.fields["validation_pairs"]
        assert isinstance(choice_field, forms.TypedMultipleChoiceField)
        choice_field.choices = [(p.pk, p.name) for p in pairs]
        self.estimate: Estimate | None = None

    def clean_base(self) -> str:
        """A base this server offers (blank: the default)."""
        base = str(self.cleaned_data.get("base") or "") or default_base()
        problem = _unoffered(base)
        if problem:
            raise forms.ValidationError(problem)
        return base

    def clean_validation_prompts(self) -> list[str]:
        text = self.cleaned_data.get("validation_prompts") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def _value(self, name: str) -> Any:
        return self.data.get(name) if self.is_bound else self.initial.get(name)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needed = ("width", "height", "frames", "fps", "reference_downscale_factor", "rank", "steps")
        if any(data.get(name) is None for name in needed):
            return data
        if "base" not in self.fields and (problem := _unoffered(str(self._value("base") or default_base()))):
            self.add_error(None, problem)  # a draft saved on a base this server offered before
        self._check_shapes(data)
        self._check_lengths(data)
        self._check_intervals(data)
        self._check_validation(data)
        if all(data.get(name) is not None for name in needed):  # add_error drops a field from cleaned_data
            self._check_memory(data)
        return data

    def _sizes(self, data: dict[str, Any]) -> list[tuple[int, int]]:
        """The shapes' (width, height) in use, the first one first."""
        return [(data[w], data[h]) for w, h in SIZE_NAMES if data.get(w) is not None and data.get(h) is not None]

    def _check_shapes(self, data: dict[str, Any]) -> None:
        """Each shape in whole blocks of 32 (64 with a half-size reference), no shape twice; frames 8n+1 once."""
        for width, height in SIZE_NAMES[1:]:
            if width in self.fields and (data.get(width) is None) != (data.get(height) is None):
                self.add_error(width if data.get(width) is None else height,
                               "Give this shape both a width and a height, or remove it.")
        sizes = self._sizes(data)
        for w, h in sizes:
            name = f"{orientation(w, h).capitalize()} shape {w}×{h}: " if len(sizes) > 1 else ""
            for problem in size_problems(w, h, data["reference_downscale_factor"]):
                self.add_error(None, name + problem)
        if len(set(sizes)) < len(sizes):
            self.add_error(None, "The same shape is listed twice: remove one of them.")
        for problem in frames_problems(data["frames"]):
            self.add_error(None, problem)

    def shape_rows(self) -> list[tuple[int, Any, Any, ShapeUse | None]]:
        """The shapes as the Advanced panel lists them: (number, width field, height field, its use by the clips)."""
        shapes = self.current_shapes()  # one per row, or none while a size is not a number
        uses: list[ShapeUse | None] = [*shape_uses(self._metas(), shapes)] if shapes else []
        names = [(w, h) for w, h in SIZE_NAMES if w in self.fields]
        uses += [None] * (len(names) - len(uses))
        return [(n, self[w], self[h], use) for n, ((w, h), use) in enumerate(zip(names, uses, strict=True), 1)]

    def shape_notes(self) -> list[str]:
        """Clips of an orientation without a shape of their own, and what cropping them into another costs."""
        shapes = self.current_shapes()
        return cropped_notes(self._metas(), shapes) if shapes else []

    def current_shapes(self) -> list[Shape]:
        """The shapes as entered so far (posted or initial); empty while any size is not a whole number yet."""
        try:
            frames = int(self._value("frames") or 1)
            fps = float(self._value("fps") or 24.0)
            return [Shape(int(self._value(w)), int(self._value(h)), max(frames, 1), fps)
                    for w, h in SIZE_NAMES if w in self.fields]
        except (TypeError, ValueError):
            return []

    def _metas(self) -> list[dict[str, Any]]:
        return [p.target_meta for p in self.pairs if p.target_meta.get("frames") and p.target_meta.get("fps")]

    def _check_lengths(self, data: dict[str, Any]) -> None:
        short = []
        for pair in self.pairs:
            fps = self.pair_fps.get(pair.pk) or 0
            if not fps or pair.pk not in self.available:
                continue
            frames = frames_at(self.available[pair.pk], fps, data["fps"])
            if frames < data["frames"]:
                short.append((pair.name, frames))
        if short:
            fits = largest_frames_at_most(min(f for _, f in short))
            names = ", ".join(n for n, _ in short[:3]) + (f" and {len(short) - 3} more" if len(short) > 3 else "")
            advice = f"Choose {fits} frames or fewer" if fits >= 9 else "Remove those pairs"
            self.add_error("frames", f"Too long for {len(short)} of your clips ({names}): they have fewer than "
                           f"{data['frames']} frames at {data['fps']:g} fps. {advice}, or use longer clips.")

    def _check_intervals(self, data: dict[str, Any]) -> None:
        if data.get("checkpoint_every") and data["checkpoint_every"] > data["steps"]:
            self.add_error("checkpoint_every", f"Longer than the whole training ({data['steps']} steps): no "
                           "checkpoint would be saved along the way. Use a number up to the steps.")
        if data.get("validation_every") and data["validation_every"] > data["steps"]:
            self.add_error("validation_every", f"Longer than the whole training ({data['steps']} steps): no sample "
                           "would be made. Use a number up to the steps, or 0.")

    def _check_validation(self, data: dict[str, Any]) -> None:
        chosen, prompts = data.get("validation_pairs") or [], data.get("validation_prompts") or []
        if len(chosen) > 3:
            self.add_error("validation_pairs", "Pick at most 3 reference clips: each sample takes time.")
        if chosen and len(prompts) != len(chosen):
            self.add_error("validation_prompts", f"{len(chosen)} reference clip{'s' if len(chosen) != 1 else ''} "
                           f"chosen but {len(prompts)} prompt{'s' if len(prompts) != 1 else ''} written: write one "
                           "prompt per chosen clip, one per line.")
        if prompts and not chosen:
            self.add_error("validation_pairs", "Choose the reference clip each sample prompt goes with.")
        if data.get("hold_out_validation"):
            if not chosen:
                self.add_error("hold_out_validation", "Choose the sample clips to keep out of training first.")
            elif len(self.pairs) - len(chosen) < 2:
                self.add_error("hold_out_validation", f"Only {len(self.pairs) - len(chosen)} pair"
                               f"{'s' if len(self.pairs) - len(chosen) != 1 else ''} would be left to train on. "
                               "Add pairs, or train on the sample clips too.")

    def _check_memory(self, data: dict[str, Any]) -> None:
        """Against the largest shape: the one that needs the most time and memory per step."""
        width, height = max(self._sizes(data), key=lambda size: size[0] * size[1])
        clips = training_clips([p.target_meta for p in self.pairs], data["frames"], data["fps"],
                               bool(data.get("whole_clips")))
        samples = sample_count(data["steps"], data.get("validation_every") or 0,
                               len(data.get("validation_pairs") or []))
        base = data.get("base") or default_base()
        self.estimate = estimate(model_preset(base), width, height, data["frames"],
                                 data["reference_downscale_factor"], data["rank"], data["steps"], clips,
                                 samples=samples, **training_hardware(),
                                 measured=measured_speeds(width, height, data["frames"],
                                                          data["reference_downscale_factor"], data["rank"], base))
        if not self.estimate.fits:
            self.add_error(None, f"These settings need about {self.estimate.memory_gib:.0f} GB of GPU memory, more "
                           f"than the {self.estimate.gpu_memory_gib:.0f} GB GPU they are planned for. Use fewer "
                           "frames, a smaller size, a half-size reference or a lower rank.")

    def settings(self) -> TrainingSettings:
        data = dict(self.cleaned_data)
        data.pop("preset", None)
        data["extra_sizes"] = [list(size) for size in self._sizes(data)[1:]]
        return TrainingSettings.from_dict(data)


def _unoffered(base: str) -> str | None:
    """Why `base` cannot be trained on here, or None when this server offers it."""
    offered = available_bases()
    if base in offered:
        return None
    titles = " or ".join(BASES[name].title for name in offered)
    named = BASES[base].title if base in BASES else f"“{base}”"
    return f"{named} is not offered on this server (any more): train on {titles}."


def _size_field(side: str, number: int) -> forms.IntegerField:
    return forms.IntegerField(
        label=f"{side} (pixels)", min_value=64, max_value=2048, required=False, widget=_number(step=32),
        help_text=f"{side} of shape {number}: the clips closest to its shape are resized and centre-cropped to it. "
        "A multiple of 32.",
    )


def without_shape(data: Any, number: int) -> Any:
    """Posted settings without shape `number` (1 is width/height): the later shapes move up one place. The only
    shape left cannot be removed."""
    data = data.copy()
    sizes = [(data.get(w, ""), data.get(h, "")) for w, h in SIZE_NAMES]
    present = [size for i, size in enumerate(sizes) if i == 0 or any(size)]
    if len(present) > 1 and 1 <= number <= len(present):
        del present[number - 1]
    for i, (w, h) in enumerate(SIZE_NAMES):
        data.pop(w, None)
        data.pop(h, None)
        if i < len(present):
            data[w], data[h] = present[i]
    return data


def initial_from(values: TrainingSettings, preset: str) -> dict[str, Any]:
    initial = values.as_dict()
    initial.pop("extra_sizes")
    for (width, height), (w, h) in zip(SIZE_NAMES[1:], values.extra_sizes, strict=False):
        initial[width], initial[height] = w, h
    initial["validation_prompts"] = "\n".join(values.validation_prompts)
    initial["preset"] = preset
    return initial


def estimate_for(values: TrainingSettings, metas: list[dict[str, Any]]) -> Estimate:
    """Time and memory at the largest shape, for pairs whose targets have these facts."""
    largest = values.largest
    clips = training_clips(metas, values.frames, values.fps, values.whole_clips)
    samples = sample_count(values.steps, values.validation_every, len(values.validation_pairs))
    measured = measured_speeds(largest.width, largest.height, values.frames, values.reference_downscale_factor,
                               values.rank, values.base)
    return estimate(model_preset(values.base), largest.width, largest.height, values.frames,
                    values.reference_downscale_factor, values.rank, values.steps, clips, samples=samples,
                    measured=measured, **training_hardware())


def measured_speeds(width: int, height: int, frames: int, downscale: int, rank: int,
                    base: str | None = None) -> dict[str, Measured]:
    """This server's recorded speeds at this size, by stage, for the model of `base` (the default base when not given)
    its workers train (training.speeds records them under `speed_model`: the workers' MODEL_PRESET, which the web app
    shares, and the base)."""
    rows = MeasuredSpeed.objects.filter(model=speed_model(base or default_base()), width=width, height=height,
                                        frames=frames,
                                        reference_downscale=downscale, rank=rank)
    return {row.stage: Measured(row.seconds, row.runs) for row in rows}
