"""The Identity recipe end to end: a creator uploads clips and one still of the subject per clip, goes through
every wizard step with Django's test client, and the real Celery worker trains the tiny model to an adapter.

Nothing is faked: ffmpeg makes the clips and stills, the checks run on them, the worker process reads the
stored files, trains, renders validation samples from the stills and exports the adapter.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from safetensors import safe_open

from datasets.models import ClipPair
from studio.models import Adapter
from tests.clips import make_clip, make_image
from tests.helpers import wait_for
from tests.wizard.flow import pairs, start, upload
from training.models import TrainingRun, ValidationSample

pytestmark = pytest.mark.timeout(240)

SUBJECTS = {  # pair name -> (ffmpeg source of the clip, caption)
    "front": ("testsrc2", "walking towards the camera through a park, morning light"),
    "profile": ("mandelbrot", "turning to the side in a dim room, lamp light"),
    "closeup": ("testsrc", "smiling close to the camera on a busy street"),
}


class FormValues(HTMLParser):
    """What a browser would submit for the form with id `form_id`: inputs, checked boxes, selects, textareas."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        name = a.get("name") or ""
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values.setdefault(name, []).append(a.get("value") or "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.values.setdefault(self._select, []).append(a.get("value") or "")
        elif tag == "textarea":
            self._textarea = name
            self.values.setdefault(name, []).append("")

    def handle_data(self, data: str) -> None:
        if self.inside and self._textarea:
            self.values[self._textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            text = self.values[self._textarea][-1]
            self.values[self._textarea][-1] = text[1:] if text.startswith("\n") else text  # as browsers do
            self._textarea = None


def submitted(html: str, form_id: str) -> dict[str, list[str]]:
    parser = FormValues(form_id)
    parser.feed(html)
    return parser.values


@pytest.fixture
def identity_files(tmp_path: Path) -> dict[str, Path]:
    """Three 1 s clips (24 fps, 160×128: more than the Quick preset's 17 frames) and a still of each clip's
    subject of the same shape, named clip.mp4 + clip_ref.png so that pairing matches them."""
    files = {}
    for name, (source, _caption) in SUBJECTS.items():
        files[f"{name}.mp4"] = make_clip(tmp_path / f"{name}.mp4", source=source, frames=24)
        files[f"{name}_ref.png"] = make_image(tmp_path / f"{name}_ref.png", 160, 128, source=source)
    return files


def test_an_identity_adapter_is_trained_from_stills_through_the_whole_wizard(
    transactional_db, celery_worker, creator, identity_files, tmp_path
):
    maya = Client()
    maya.force_login(creator)

    # Recipe and clips: every pair pairs its clip with its still and passes its checks.
    draft = start(maya, "identity")
    assert upload(maya, draft, identity_files).status_code == 302
    found = pairs(draft)
    assert sorted(found) == sorted(SUBJECTS)
    for name, pair in found.items():
        assert pair.status == ClipPair.Status.OK, (name, pair.messages)
        assert pair.reference_file.name.endswith(".png")
        assert pair.reference_meta["frames"] == 1 and pair.target_meta["frames"] == 24
        saved = maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/caption/", {"caption": SUBJECTS[name][1]})
        assert saved.status_code == 302
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert page.count("160×128 still") == 3 and "Needs attention" not in page

    # Settings: the Quick test preset fitted to the clips, with the steps cut down (as a creator may do
    # under Advanced) so the CPU run takes seconds; the suggested sample prompts are kept.
    form = maya.post(f"/wizard/{draft.pk}/settings/", {"action": "preset", "preset": "quick"},
                     HTTP_HX_REQUEST="true").content.decode()
    values = submitted(form, "settings-form")
    assert values["preset"] == ["quick"]
    assert (values["width"], values["height"], values["frames"], values["rank"]) == (["128"], ["96"], ["17"], ["8"])
    assert len(values["validation_pairs"]) == 2 and len(values["validation_prompts"][0].splitlines()) == 2
    values.update(steps=["10"], checkpoint_every=["10"], validation_every=["0"], action=["save"])
    saved = maya.post(f"/wizard/{draft.pk}/settings/", values)
    assert saved.status_code == 302 and saved["Location"] == f"/wizard/{draft.pk}/launch/"

    # Launch: the real worker trains the run to the end.
    assert "Launch training" in maya.get(saved["Location"]).content.decode()
    launched = maya.post(f"/wizard/{draft.pk}/launch/")
    run = TrainingRun.objects.get(owner=creator)
    assert launched["Location"] == f"/runs/{run.pk}/"
    assert run.recipe == "identity" and run.config["bucket"] == {"width": 128, "height": 96, "frames": 17,
                                                                  "fps": 24.0}
    wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, state__in=TrainingRun.FINAL_STATES).exists(),
             timeout=180, interval=0.5)
    run.refresh_from_db()
    assert run.state == TrainingRun.State.SUCCEEDED, (run.error_message, celery_worker.log_tail())
    assert (run.step, run.total_steps) == (10, 10)

    assert list(run.checkpoints.values_list("step", flat=True)) == [10]
    samples = ValidationSample.objects.filter(run=run)
    assert samples.count() == 2 and all(s.video_file.size > 0 for s in samples)
    assert sorted(samples.values_list("prompt", flat=True)) == sorted(
        SUBJECTS[name][1] for name in ("closeup", "front"))  # the first two pairs, in name order
    adapter = Adapter.objects.get(run=run)
    assert adapter.recipe == "identity" and adapter.rank == 8 and adapter.reference_downscale_factor == 1
    local = tmp_path / "identity.safetensors"
    local.write_bytes(adapter.file.read())
    with safe_open(str(local), "pt") as exported:
        metadata = exported.metadata()
    assert metadata["recipe"] == "identity"
    assert metadata["reference_downscale_factor"] == metadata["ss_reference_downscale_factor"] == "1"
    assert metadata["bucket"] == "128x96x17@24" and metadata["steps"] == "10"

    page = maya.get(f"/runs/{run.pk}/").content.decode()
    assert "Finished" in page and "Your adapter is ready." in page
    assert f"Download {run.name}.safetensors" in page
