"""Forms for the settings of references made on the server, built from each method's settings model."""

from __future__ import annotations

from typing import Any

from django import forms
from pydantic.fields import FieldInfo

from datasets.models import Dataset
from prep.extract.base import ExtractionError
from prep.extract.settings import ExtractionSettings
from prep.models import Extraction
from wizard.derive import save_settings, settings_for

Method = Extraction.Method

# Label and help per method and field; fields not listed still get a form field named after themselves, with the
# setting's description as help.
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    Method.CANNY: {
        "low_threshold": ("Low threshold", "Edges weaker than this are dropped. Lower it to keep faint detail."),
        "high_threshold": ("High threshold", "Edges stronger than this are always kept. Raise it for fewer, "
                           "bolder lines."),
        "blur": ("Smoothing", "Blurs each frame a little first so grain and noise do not turn into speckles "
                 "(odd number of pixels, 0 for none)."),
        "thickness": ("Line thickness", "Widens every edge to the same number of pixels in every frame; 0 picks "
                      "a width that suits the clip's size."),
    },
    Method.POSE: {
        "min_visibility": ("Keypoint certainty", "A body part the detector is less sure of than this (0–1) is "
                           "left out on that frame. Lower it if limbs blink in and out."),
        "min_confidence": ("Person certainty", "How sure the detector must be that a person is there (0–1)."),
        "max_gap": ("Fill gaps up to (frames)", "Short moments where a body part or the person is lost are "
                    "filled in smoothly; longer ones stay black."),
        "line_width": ("Line width", "Width of the skeleton's lines in pixels; 0 picks one that suits the "
                       "clip's size."),
    },
    Method.DEPTH: {
        "smoothing": ("Smoothing over time", "How many frames each frame's depth is averaged over (0 for none). "
                      "Higher calms flicker but smears fast motion."),
        "batch_size": ("Frames at once", "How many frames the depth model sees at once. Lower it if the worker "
                       "runs out of memory."),
        "near_percentile": ("Nearest (percentile)", "Depth beyond this share of the clip is pure white."),
        "far_percentile": ("Farthest (percentile)", "Depth below this share of the clip is pure black."),
    },
    Method.TRACKS: {
        "tracks": ("Number of tracks", "The most dots drawn in each clip (1–400). The points that move most and lie "
                   "furthest apart are kept: 20 to 80 suit most clips."),
        "min_motion": ("Minimum motion", "A point that never moves further than this from where it started is left "
                       "out, so still backgrounds stay black. Measured on a frame 1080 pixels high; 0 keeps still "
                       "points too."),
        "trail_length": ("Trail length (frames)", "How many frames of each point's past are drawn behind it, fading "
                         "from blue to red. Lightricks' motion adapter was trained with 50."),
        "circle_size": ("Circle size", "Size of the newest dot, on a frame 1080 pixels high; older dots shrink to a "
                        "quarter of it. Lightricks' motion adapter was trained with 8."),
    },
}


def _settings_class(method: str) -> type[ExtractionSettings]:
    if method == Method.CANNY:
        # prep.extract.* loads cv2 and numpy at its top: kept off the web process until a form needs it
        from prep.extract.canny import CannySettings

        return CannySettings
    if method == Method.POSE:
        # cv2/numpy, loaded on first use (see above)
        from prep.extract.pose import PoseSettings

        return PoseSettings
    if method == Method.TRACKS:
        # cv2/numpy, loaded on first use (see above)
        from prep.extract.tracks import TrackSettings

        return TrackSettings
    # cv2/numpy, loaded on first use (see above)
    from prep.extract.depth import DepthSettings

    return DepthSettings


def _form_field(name: str, field: FieldInfo, value: Any, method: str) -> forms.Field:
    kind = field.annotation
    label, help_text = TEXTS.get(method, {}).get(name, (name.replace("_", " ").capitalize(), field.description or ""))
    if kind is bool:
        return forms.BooleanField(label=label, help_text=help_text, required=False, initial=value)
    # Not required: a value left out keeps the dataset's current one (the live preview sends what it has).
    if kind is int:
        return forms.IntegerField(label=label, help_text=help_text, initial=value, required=False)
    return forms.FloatField(label=label, help_text=help_text, initial=value, required=False)


class DeriveSettingsForm(forms.Form):
    """One field per setting of `method`; `save()` validates them against the method and stores them."""

    def __init__(self, dataset: Dataset, method: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dataset, self.method = dataset, method
        current = settings_for(dataset, method)
        for name, field in _settings_class(method).model_fields.items():
            if field.annotation in (int, float, bool):
                self.fields[name] = _form_field(name, field, current.get(name), method)

    def values(self) -> dict[str, Any]:
        """The dataset's current settings with what the form was given on top (call after is_valid)."""
        given = {k: v for k, v in self.cleaned_data.items() if v is not None}
        return {**settings_for(self.dataset, self.method), **given}

    def save(self) -> dict[str, Any] | None:
        """The stored settings, or None with the reason added to the form's errors."""
        if not self.is_valid():
            return None
        try:
            return save_settings(self.dataset, self.method, self.values())
        except ExtractionError as err:
            self.add_error(None, str(err))
            return None
