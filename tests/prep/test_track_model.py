"""An operator's point-tracking model (TRACK_MODEL_PATH): motion tracks follow their points with it when it is set,
with the same choice of points and the same drawing; a file that cannot be used is explained to the operator on the
models page and to the creator in a plain sentence.

The model here is a tiny stand-in saved whole (torch.export or TorchScript), called as CoTracker is: it moves every
point by a known shift per frame and sees points only on the left part of the frame, which optical flow on the test
clip never does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from prep.extract.track_model import COULD_NOT_LOAD, FAILED_ON_CLIP, load_track_model, track_model_problem
from prep.extract.tracks import MODEL_WINDOW, TrackSettings, extract_tracks
from prep.models import Extraction
from prep.services import request_extraction, run_extraction, tracks_coordinates
from tests.prep.conftest import SLIDING_SQUARES, write_moving_squares

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

SHIFT = (2.0, 1.0)  # pixels per frame, right and down: neither square moves so, and the background stands still
SEEN_LEFT_OF = 200.0  # the stand-in sees points only left of this x (the clip is 256 wide)
CREATOR_SENTENCE = ("This server cannot make motion tracks right now: the point-tracking model its operator set up "
                    "cannot be used.")


class ShiftingTracker(torch.nn.Module):
    """CoTracker's calling convention, followed by a known rule: every point moves SHIFT per frame from its query,
    seen while left of SEEN_LEFT_OF. With `check_input` it refuses input that is not CoTracker's (B, T, 3, H, W) RGB
    0-255 video of MODEL_WINDOW frames and (B, N, 3) (frame, x, y) queries (TorchScript only: torch.export cannot
    trace checks of values)."""

    def __init__(self, dx: float, dy: float, seen_left_of: float, check_input: bool = False) -> None:
        super().__init__()
        self.dx, self.dy, self.seen_left_of, self.check_input = dx, dy, seen_left_of, check_input
        self.window = MODEL_WINDOW

    def forward(self, video: torch.Tensor, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.check_input:
            if video.dim() != 5 or video.shape[2] != 3 or video.dtype != torch.float32:
                raise RuntimeError("the video is not (B, T, 3, H, W) float32")
            if video.shape[1] != self.window:
                raise RuntimeError("every call has the same number of frames, the clip's last ones padded")
            if float(video.max()) <= 1.0:
                raise RuntimeError("the video is not in 0 to 255")
            if queries.dim() != 3 or queries.shape[2] != 3 or bool((queries[:, :, 0] != 0).any()):
                raise RuntimeError("the queries are not (B, N, 3) on frame 0")
        steps = torch.arange(video.shape[1], dtype=torch.float32).view(1, -1, 1, 1)
        shift = torch.tensor([self.dx, self.dy]).view(1, 1, 1, 2)
        tracks = queries[:, None, :, 1:] + steps * shift
        return tracks, tracks[..., 0] < self.seen_left_of


class ShapelessTracker(torch.nn.Module):
    """A module that answers, but not in CoTracker's shapes: one position per point, no frames."""

    def forward(self, video: torch.Tensor, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return queries[:, :, 1:], queries[:, :, 0] == 0


def save_scripted(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def save_exported(module: torch.nn.Module, path: Path) -> Path:
    """`module` exported for any number of frames, points and any frame size, as an operator would save CoTracker."""
    frames, points = torch.export.Dim("frames", min=2, max=1000), torch.export.Dim("points", min=2, max=5000)
    height, width = torch.export.Dim("height", min=8, max=4096), torch.export.Dim("width", min=8, max=4096)
    sample = (torch.rand(1, 16, 3, 64, 96) * 255, torch.zeros(1, 10, 3))
    program = torch.export.export(module, sample, dynamic_shapes=({1: frames, 3: height, 4: width}, {1: points}))
    torch.export.save(program, path)
    return path




@pytest.fixture(autouse=True)
def own_media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def cars(tmp_path) -> Path:
    return write_moving_squares(tmp_path / "cars.mp4", SLIDING_SQUARES, frames=40)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in, exported once for the module (torch.export takes seconds)."""
    return save_exported(ShiftingTracker(*SHIFT, SEEN_LEFT_OF), tmp_path_factory.mktemp("model") / "tracker.pt2")


def ask(owner, clip: Path) -> Extraction:
    data = clip.read_bytes()
    return request_extraction(owner, "tracks", {}, ContentFile(data, name=clip.name), clip.name,
                              hashlib.sha256(data).hexdigest(), owns_source=True)


def shown_runs(points: list) -> list[tuple[int, np.ndarray]]:
    """Each track's (first frame shown, its positions (K, 2) on the frames it is shown), checking they follow on."""
    runs = []
    for track in points:
        frames = [t for t, point in enumerate(track) if point is not None]
        assert frames == list(range(frames[0], frames[-1] + 1)), "a dropped point never comes back"
        runs.append((frames[0], np.array([track[t] for t in frames])))
    return runs


@pytest.mark.parametrize("saved_as", ["export", "torchscript"])
def test_with_a_point_tracking_model_set_the_tracks_are_the_ones_it_followed(settings, creator, cars, saved_as,
                                                                             stand_in, tmp_path):
    checking = ShiftingTracker(*SHIFT, SEEN_LEFT_OF, check_input=True)
    model = stand_in if saved_as == "export" else save_scripted(checking, tmp_path / "tracker.pt")
    settings.TRACK_MODEL_PATH = str(model)
    extraction = ask(creator, cars)
    run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.DONE, extraction.error_message
    assert "The points were followed by this server's point-tracking model." in extraction.report["notes"]
    stored = tracks_coordinates(extraction)
    assert stored is not None and (stored["width"], stored["height"], stored["frames"]) == (256, 176, 40)
    runs = shown_runs(stored["points"])
    assert len(runs) >= 8
    for _first, positions in runs:
        # Every step is the stand-in's shift (positions are kept to a tenth of a pixel).
        assert np.allclose(np.diff(positions, axis=0), SHIFT, atol=0.11)
        assert (positions[1:, 0] < SEEN_LEFT_OF).all(), "a point is dropped once the model no longer sees it"
    # Points are seeded again as others are lost, as with optical flow: some tracks start after the first frame.
    assert any(first > 0 for first, _ in runs)


def test_without_a_model_the_same_clip_is_followed_with_optical_flow(cars, tmp_path):
    extract_tracks(cars, tmp_path / "flow.mp4", TrackSettings())
    points = json.loads((tmp_path / "flow.json").read_text())["points"]
    steps = np.concatenate([np.diff(positions, axis=0) for _, positions in shown_runs(points)])
    assert not np.allclose(steps, SHIFT, atol=0.11)  # the comparison above tells the two apart


def test_the_model_is_loaded_once_per_worker_and_again_when_its_file_changes(stand_in, tmp_path):
    model = tmp_path / "tracker.pt2"
    shutil.copy(stand_in, model)
    first = load_track_model(model)
    assert load_track_model(model) is first
    save_scripted(ShiftingTracker(1.0, 0.0, SEEN_LEFT_OF), model)  # an operator replaced it
    assert load_track_model(model) is not first


def test_a_missing_model_is_explained_to_the_operator_and_in_a_plain_sentence_to_the_creator(
    settings, operator, creator, maya, cars, tmp_path
):
    settings.TRACK_MODEL_PATH = str(tmp_path / "gone" / "cotracker.pt")
    maya_page = maya.get("/studio/controls/").content.decode()
    assert 'value="tracks" disabled' in maya_page and CREATOR_SENTENCE in maya_page
    assert "TRACK_MODEL_PATH" not in maya_page and "cotracker.pt" not in maya_page
    upload = SimpleUploadedFile("cars.mp4", cars.read_bytes(), content_type="video/mp4")
    refused = maya.post("/studio/tracks/from-clip/", {"video": upload}).content.decode()
    assert CREATOR_SENTENCE in refused and "TRACK_MODEL_PATH" not in refused
    assert not Extraction.objects.exists()

    extraction = ask(creator, cars)  # asked for before the operator broke the setting
    run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.FAILED and extraction.error_message == CREATOR_SENTENCE

    olivia = Client()
    olivia.force_login(operator)
    row = olivia.get("/ops/models/").content.decode().split('data-setting="TRACK_MODEL_PATH"')[1].split("</tr>")[0]
    assert 'data-status="problem"' in row and "does not exist on this server" in row


def test_a_weights_file_is_not_taken_for_a_model_and_the_operator_is_told_how_to_save_one(tmp_path):
    weights = tmp_path / "cotracker3.pth"
    torch.save(ShiftingTracker(*SHIFT, SEEN_LEFT_OF).state_dict(), weights)
    assert "is not a saved model: save the model itself" in (track_model_problem(weights) or "")
    notes = tmp_path / "notes.pt"
    notes.write_text("hello")
    assert "is not a saved model" in (track_model_problem(notes) or "")
    assert "names the folder" in (track_model_problem(tmp_path) or "")
    assert track_model_problem(None) is None and track_model_problem("") is None  # no model: optical flow


def test_the_operator_sees_a_usable_model_and_an_unset_one_explained(settings, client: Client, operator, stand_in):
    client.force_login(operator)
    settings.TRACK_MODEL_PATH = str(stand_in)
    row = client.get("/ops/models/").content.decode().split('data-setting="TRACK_MODEL_PATH"')[1].split("</tr>")[0]
    assert 'data-status="ok"' in row and "OK: exported program (torch.export)" in row
    settings.TRACK_MODEL_PATH = None
    row = client.get("/ops/models/").content.decode().split('data-setting="TRACK_MODEL_PATH"')[1].split("</tr>")[0]
    assert "Not configured — motion tracks follow points with optical flow (OpenCV)." in row


def test_a_model_file_that_breaks_on_the_worker_fails_the_tracks_in_plain_words_and_logs_why(
    settings, creator, cars, tmp_path, caplog
):
    broken = tmp_path / "truncated.pt"
    with zipfile.ZipFile(broken, "w") as archive:  # looks like TorchScript from outside, cannot be loaded
        archive.writestr("truncated/code/__torch__.py", "this is not TorchScript")
        archive.writestr("truncated/constants.pkl", b"\x80")
    assert track_model_problem(broken) is None
    settings.TRACK_MODEL_PATH = str(broken)
    extraction = ask(creator, cars)
    with caplog.at_level(logging.ERROR, logger="prep.extract.track_model"):
        run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.FAILED and extraction.error_message == COULD_NOT_LOAD
    assert "truncated.pt could not be loaded" in caplog.text


def test_a_model_that_answers_in_other_shapes_fails_the_tracks_in_plain_words(settings, creator, cars, tmp_path,
                                                                              caplog):
    settings.TRACK_MODEL_PATH = str(save_scripted(ShapelessTracker(), tmp_path / "shapeless.pt"))
    extraction = ask(creator, cars)
    with caplog.at_level(logging.ERROR, logger="prep.extract.track_model"):
        run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.FAILED and extraction.error_message == FAILED_ON_CLIP
    assert f"not (1, {MODEL_WINDOW}, " in caplog.text
