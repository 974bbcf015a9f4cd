"""The wizard through Django's test client: uploads, pairing, checks, settings, launch, drafts, ownership."""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from datasets.models import ClipPair, Dataset, DatasetFile
from engine.media import probe
from tests.clips import NO_REAL_MEDIA, REAL_MEDIA
from tests.helpers import hdr_copy, sideways_photo, viewed_pixels
from tests.wizard.flow import pairs, reference_of, start, target_of, upload, zip_bytes
from training.models import TrainingRun
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db


# --- Recipe step


def test_the_recipe_list_shows_every_recipe_with_a_way_in(maya):
    page = maya.get("/wizard/").content.decode()
    for name in ("Depth control", "Canny edges control", "Pose control", "Union control", "Restoration",
                 "Colorize", "Style / re-render", "Identity", "Custom pairs"):
        assert name in page
    assert page.count('name="recipe"') == 9
    assert 'href="/wizard/recipes/identity/"' in page


def test_a_recipe_page_says_what_to_upload_and_what_makes_a_good_pair(maya):
    page = maya.get("/wizard/recipes/pose/").content.decode()
    assert "skeleton" in page and "What makes a good pair" in page and "80–150" in page
    assert maya.get("/wizard/recipes/nope/").status_code == 404


def test_choosing_a_recipe_creates_a_dataset_and_a_draft_with_its_defaults(maya, creator):
    draft = start(maya, "colorize")
    assert draft.owner == creator and draft.dataset.recipe == "colorize"
    assert draft.dataset.trigger_phrase == "COLORIZE"
    assert "COLORIZE" in maya.get(f"/wizard/{draft.pk}/settings/").content.decode()


def test_changing_the_recipe_keeps_the_clips_and_switches_the_defaults(maya, clips):
    draft = start(maya, "colorize")
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips("r.mp4", gray=True)})
    maya.post(f"/wizard/{draft.pk}/recipe/", {"recipe": "restoration"})
    draft.refresh_from_db()
    assert draft.dataset.recipe == "restoration" and draft.dataset.trigger_phrase == "ENHANCE QUALITY"
    assert list(pairs(draft)) == ["a"]


# --- Clips step


def test_uploaded_pairs_are_paired_checked_and_shown_side_by_side(maya, clips):
    draft = start(maya)
    response = upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref(),
                                    "walk.txt": b"a man walking down a sunny street\n"})
    assert response.status_code == 302
    pair = pairs(draft)["walk"]
    assert pair.status == ClipPair.Status.OK and pair.caption == "a man walking down a sunny street"
    assert pair.target_file.name == target_of(pair).file.name
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert f'src="/wizard/files/{pair.target_source_id}/"' in page
    assert f'src="/wizard/files/{pair.reference_source_id}/"' in page
    assert "160×128 · 24 fps · 48 frames · 2.0 s" in page
    poster = maya.get(f"/wizard/files/{pair.target_source_id}/poster/")
    assert poster["Content-Type"] == "image/jpeg" and b"".join(poster.streaming_content)[:3] == b"\xff\xd8\xff"
    assert "Ready" in page


def test_an_hdr_phone_clip_is_shown_in_standard_colours_and_said_to_be_converted(maya, clips, tmp_path):
    draft = start(maya)
    upload(maya, draft, {"sdr.mp4": clips("t.mp4"), "sdr_ref.mp4": clips.ref(),
                         "hdr.mp4": hdr_copy(clips("t.mp4"), tmp_path / "hdr.mp4", "hlg"), "hdr_ref.mp4": clips.ref()})
    found = pairs(draft)
    assert found["hdr"].status == ClipPair.Status.OK
    assert "HDR video (HLG" in maya.get(f"/wizard/{draft.pk}/clips/").content.decode()

    def poster(pair: ClipPair):
        return viewed_pixels(b"".join(maya.get(f"/wizard/files/{pair.target_source_id}/poster/").streaming_content))

    # ~18 levels apart after HEVC and two JPEG encodes; read as if it were standard video, ~68.
    assert abs(poster(found["hdr"]).astype(float) - poster(found["sdr"])).mean() < 25


def test_a_clip_browsers_may_not_play_gets_a_small_h264_preview_and_training_keeps_the_original(
    maya, clips, tmp_path
):
    draft = start(maya)
    hevc = hdr_copy(clips("t.mp4"), tmp_path / "phone.mov", "hlg")  # an iPhone's HEVC HDR
    upload(maya, draft, {"phone.mov": hevc, "phone_ref.mp4": clips.ref()})
    pair = pairs(draft)["phone"]
    target, reference = target_of(pair), reference_of(pair)
    assert target.preview and not reference.preview  # the reference is H.264 already
    assert pair.target_file.name == target.file.name  # training reads the original

    response = maya.get(f"/wizard/files/{target.pk}/preview/")
    assert response["Content-Type"] == "video/mp4"
    with target.preview.open("rb") as handle, tempfile.NamedTemporaryFile(suffix=".mp4") as copy:
        copy.write(handle.read())
        copy.flush()
        made = probe(copy.name)
    assert (made.codec, made.hdr, made.frames, made.width) == ("h264", "", 48, 160)
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert f'src="/wizard/files/{target.pk}/preview/"' in page and f'src="/wizard/files/{reference.pk}/"' in page
    assert maya.get(f"/wizard/files/{reference.pk}/preview/").status_code == 404


def test_an_upload_answers_json_for_the_page_script(maya, clips):
    draft = start(maya)
    handle = io.BytesIO(clips("t.mp4").read_bytes())
    handle.name = "walk.mp4"
    response = maya.post(f"/wizard/{draft.pk}/clips/upload/", {"files": [handle], "paths": ["targets/walk.mp4"]},
                         HTTP_ACCEPT="application/json")
    assert response.json() == {"ok": True, "problems": [], "added": ["targets/walk.mp4"], "replaced": [],
                               "ignored": []}


def test_a_pair_with_problems_shows_plain_messages_and_blocks_launch(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"bad.mp4": clips("t.mp4", fps=24), "bad_ref.mp4": clips("r.mp4", fps=30)})
    assert pairs(draft)["bad"].status == ClipPair.Status.ERROR
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "Different frame rates" in page and "Must fix" in page
    launch = maya.get(f"/wizard/{draft.pk}/launch/").content.decode()
    assert "Not ready to launch" in launch and "1 pair needs attention" in launch
    maya.post(f"/wizard/{draft.pk}/launch/")
    assert not TrainingRun.objects.exists()


def test_orphans_on_either_side_are_called_out(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"lonely.mp4": clips("t.mp4"), "ghost_ref.mp4": clips.ref()})
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "Clips missing their reference" in page and "lonely.mp4" in page
    assert "References missing their clip" in page and "ghost_ref.mp4" in page
    assert not pairs(draft)


def test_a_batch_with_one_bad_file_stores_nothing(maya, clips, creator):
    draft = start(maya)
    response = upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": b"I am not a video at all\n"})
    assert response.status_code == 302
    assert not DatasetFile.objects.exists()
    folder = f"users/{creator.pk}/datasets/{draft.dataset_id}/files"
    assert not default_storage.exists(folder) or default_storage.listdir(folder) == ([], [])
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "walk_ref.mp4 is not a video, image, caption" in page and "Nothing from this upload was kept" in page


def test_files_of_a_failed_upload_are_removed_from_storage(maya, clips, creator, monkeypatch):
    from datasets import services

    draft = start(maya)

    def explode(dataset):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "sync_pairs", explode)
    with pytest.raises(RuntimeError):
        upload(maya, draft, {"walk.mp4": clips("t.mp4")})
    assert not DatasetFile.objects.exists()
    _, stored = default_storage.listdir(f"users/{creator.pk}/datasets/{draft.dataset_id}/files")
    assert stored == []


def test_a_file_over_the_size_limit_is_refused_while_streaming(maya, clips, settings):
    settings.WIZARD_MAX_FILE_BYTES = 10_000
    draft = start(maya)
    response = upload(maya, draft, {"walk.mp4": clips("t.mp4")}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["problems"] == ["walk.mp4 is larger than the 0 MB limit per file."]
    assert not DatasetFile.objects.exists()


def test_the_dataset_size_limit_is_enforced(maya, clips, settings):
    settings.WIZARD_MAX_DATASET_BYTES = clips("t.mp4").stat().st_size + 10
    draft = start(maya)
    response = upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()},
                      HTTP_ACCEPT="application/json")
    assert "limit is" in response.json()["problems"][0] and "per dataset" in response.json()["problems"][0]


def test_two_files_with_the_same_name_in_one_upload_are_refused(maya, clips):
    draft = start(maya)
    handles = []
    for path in (clips("t.mp4"), clips.ref()):
        handle = io.BytesIO(path.read_bytes())
        handle.name = "clip.mp4"
        handles.append(handle)
    response = maya.post(f"/wizard/{draft.pk}/clips/upload/", {"files": handles}, HTTP_ACCEPT="application/json")
    assert "Two files in this upload are called clip.mp4" in response.json()["problems"][0]
    assert not DatasetFile.objects.exists()


def test_a_file_whose_content_does_not_match_its_name_is_refused(maya):
    draft = start(maya)
    response = upload(maya, draft, {"clip.mp4": b"\x00\x01\x02 random bytes" * 50}, HTTP_ACCEPT="application/json")
    assert "its content is unknown data despite the .mp4 name" in response.json()["problems"][0]


def test_a_zip_with_folders_is_unpacked_and_paired(maya, clips):
    draft = start(maya)
    archive = zip_bytes({"set/targets/walk.mp4": clips("t.mp4").read_bytes(),
                         "set/references/walk.mp4": clips.ref().read_bytes(),
                         "set/targets/walk.txt": b"a sunny walk", "__MACOSX/._walk.mp4": b"junk"})
    upload(maya, draft, {"dataset.zip": archive})
    pair = pairs(draft)["set/walk"]
    assert pair.caption == "a sunny walk" and pair.status == ClipPair.Status.OK
    assert sorted(draft.dataset.files.values_list("name", flat=True)) == [
        "set/references/walk.mp4", "set/targets/walk.mp4", "set/targets/walk.txt"]


def test_an_unsafe_zip_is_refused_whole(maya, clips):
    draft = start(maya)
    archive = zip_bytes({"walk.mp4": clips("t.mp4").read_bytes(), "../../escape.mp4": clips.ref().read_bytes()})
    response = upload(maya, draft, {"dataset.zip": archive}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "outside the archive" in response.json()["problems"][0]
    assert not DatasetFile.objects.exists()


def test_a_manifest_import_pairs_files_and_brings_captions(maya, clips):
    draft = start(maya)
    manifest = b"caption,video,reference_video\nsunny street,clips/one.mp4,clips/one_in.mp4\n"
    upload(maya, draft, {"pairs.csv": manifest, "one.mp4": clips("t.mp4"), "one_in.mp4": clips.ref()})
    pair = pairs(draft)["one"]
    assert (target_of(pair).name, reference_of(pair).name, pair.caption) == (
        "one.mp4", "one_in.mp4", "sunny street")


def test_a_broken_manifest_is_refused_with_the_reason(maya):
    draft = start(maya)
    response = upload(maya, draft, {"pairs.csv": b"caption,video\nx,a.mp4\n"}, HTTP_ACCEPT="application/json")
    assert "reference_video" in response.json()["problems"][0]


def test_a_manifest_nested_too_deeply_is_refused_plainly_and_nothing_is_stored(maya, settings):
    draft = start(maya)

    response = upload(maya, draft, {"pairs.json": b"[" * 200_000}, HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert response.json()["problems"] == [
        "The manifest pairs.json is nested too deeply to be a list of clip pairs: a manifest is a list of rows, each "
        "with a caption, a video and a reference. Check that this is the right file."]
    assert not DatasetFile.objects.exists()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_a_one_frame_8k_target_is_not_a_good_pair(maya, clips):
    draft = start(maya)
    still = clips("still8k.mp4", width=7680, height=4320, frames=1)
    reference = clips("still8k_ref.mp4", width=7680, height=4320, frames=1, gray=True)
    upload(maya, draft, {"a.mp4": still, "a_ref.mp4": reference})

    pair = pairs(draft)["a"]
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert pair.status == ClipPair.Status.ERROR
    assert {m["code"] for m in pair.messages} >= {"too_few_frames", "too_large"}
    assert "a single frame, a still picture" in page and "7680×4320 is far larger than training uses" in page


def test_the_same_clip_twice_is_flagged_as_a_duplicate(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref(),
                         "b.mp4": clips("t.mp4"), "b_ref.mp4": clips.ref()})
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "Same target clip as pair" in page


def test_a_reference_identical_to_its_target_is_an_error(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips("t.mp4")})
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "the very same file as the target" in page


def test_a_typed_caption_is_saved_through_htmx_and_kept_over_sidecars(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    pair = pairs(draft)["a"]
    response = maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/caption/", {"caption": "  neon street at night "},
                         HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Saved" in response.content.decode()
    assert response.content.decode().lstrip().startswith("<article")
    upload(maya, draft, {"a.txt": b"an older caption"})
    pair.refresh_from_db()
    assert (pair.caption, pair.caption_typed) == ("neon street at night", True)


def test_replacing_a_file_checks_the_pair_again(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips("r.mp4", frames=40)})
    assert pairs(draft)["a"].status == ClipPair.Status.ERROR
    upload(maya, draft, {"a_ref.mp4": clips.ref()})
    assert pairs(draft)["a"].status == ClipPair.Status.OK
    assert draft.dataset.files.count() == 2


def test_removing_a_pair_deletes_its_files(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    stored = [f.file.name for f in draft.dataset.files.all()]
    pair = pairs(draft)["a"]
    with django_capture_commits():
        maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/delete/")
    assert not pairs(draft) and not draft.dataset.files.exists()
    assert not any(default_storage.exists(name) for name in stored)


def django_capture_commits():
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def test_clip_files_are_served_with_byte_ranges_for_seeking(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    source = target_of(pairs(draft)["a"])
    whole = maya.get(f"/wizard/files/{source.pk}/")
    assert whole["Content-Type"] == "video/mp4" and whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole.streaming_content) == clips("t.mp4").read_bytes()
    part = maya.get(f"/wizard/files/{source.pk}/", HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 0-99/{source.size}"
    assert b"".join(part.streaming_content) == clips("t.mp4").read_bytes()[:100]


def test_an_uploaded_file_is_only_ever_served_as_video_or_image(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"page.html": clips("t.mp4"), "page_ref.mp4": clips.ref()})
    response = maya.get(f"/wizard/files/{target_of(pairs(draft)['page']).pk}/")
    assert response["Content-Type"] == "video/mp4"
    assert response["X-Content-Type-Options"] == "nosniff" and "sandbox" in response["Content-Security-Policy"]


def test_a_phone_photo_stored_sideways_is_kept_upright_for_identity(maya, clips):
    draft = start(maya, "identity")
    photo = sideways_photo()
    upload(maya, draft, {"maya.mp4": clips("t.mp4"), "maya_ref.jpg": photo})
    stored = reference_of(pairs(draft)["maya"])
    with stored.file.open("rb") as handle:
        pixels = viewed_pixels(handle.read())
    assert pixels.shape == (320, 192, 3) and pixels[10, 180, 2] > 150  # portrait, blue patch top-right
    assert stored.size == stored.file.size and stored.sha256 == hashlib.sha256(photo).hexdigest()


def test_an_iphone_heic_photo_is_stored_as_an_upright_jpeg_and_pairs_under_its_own_name(maya, clips):
    draft = start(maya, "identity")
    upload(maya, draft, {"maya.mp4": clips("t.mp4"), "maya_ref.heic": sideways_photo("HEIF")})
    pair = pairs(draft)["maya"]
    stored = reference_of(pair)
    assert stored.name == "maya_ref.heic" and stored.file.name.endswith(".jpg")
    assert pair.status == ClipPair.Status.OK, pair.messages
    with stored.file.open("rb") as handle:
        assert viewed_pixels(handle.read()).shape == (320, 192, 3)


def test_the_pairs_partial_is_what_htmx_swaps_in(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    body = maya.get(f"/wizard/{draft.pk}/clips/pairs/", HTTP_HX_REQUEST="true").content.decode()
    assert body.lstrip().startswith('<section id="pairs"') and "<html" not in body
    assert "every 2s" not in body  # nothing left to check, so no polling


@pytest.mark.skipif(not REAL_MEDIA.is_dir(), reason=NO_REAL_MEDIA)
def test_a_real_restoration_pair_uploads_checks_and_fits_the_settings(maya):
    draft = start(maya)
    upload(maya, draft, {"targets/carphone.mp4": REAL_MEDIA / "carphone_pristine.mp4",
                         "references/carphone.mp4": REAL_MEDIA / "carphone_distorted.mp4",
                         "targets/carphone.txt": b"a man talking in a car, daylight"})
    pair = pairs(draft)["carphone"]
    assert pair.status == ClipPair.Status.OK and pair.target_meta["fps"] == pytest.approx(29.97, abs=0.01)
    page = maya.get(f"/wizard/{draft.pk}/settings/").content.decode()
    assert 'name="fps" value="30.0"' in page or '<option value="30.0" selected>' in page


# --- Settings step


def settings_post(draft: TrainingDraft, **overrides) -> dict:
    values = {"preset": "balanced", "width": 128, "height": 96, "frames": 33, "fps": "24.0",
              "reference_downscale_factor": 1, "rank": 16, "learning_rate": 0.0002, "steps": 300,
              "first_frame_probability": 0.1, "checkpoint_every": 100, "validation_every": 100,
              "trigger_phrase": "ENHANCE QUALITY", "validation_prompts": "", "action": "save"}
    return {**values, **overrides}


@pytest.fixture
def ready_draft(maya, clips) -> TrainingDraft:
    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref(), "walk.txt": b"a sunny walk"})
    return draft


def test_the_settings_page_has_presets_and_help_on_every_field(maya, ready_draft):
    page = maya.get(f"/wizard/{ready_draft.pk}/settings/").content.decode()
    for label in ("Quick test", "Balanced", "High quality", "Advanced", "Estimate", "An estimate"):
        assert label in page
    from wizard.forms import SettingsForm

    form = SettingsForm(pairs=[], available={})
    assert all(field.help_text for field in form.fields.values())
    assert page.count('class="help"') >= len(form.fields)


def test_a_preset_is_fitted_to_the_clips(maya, ready_draft):
    page = maya.post(f"/wizard/{ready_draft.pk}/settings/", {"action": "preset", "preset": "high"},
                     HTTP_HX_REQUEST="true").content.decode()
    # 2 s clips at 24 fps hold 48 frames: the preset's 33 (tiny model) still fits, 121 would not.
    assert 'name="frames" value="33"' in page and 'value="high" checked' in page


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"frames": 32}, "32 frames does not work"),
        ({"width": 100}, "Width 100 is not a multiple of 32"),
        ({"reference_downscale_factor": 2, "width": 96}, "Width 96 is not a multiple of 64"),
        ({"frames": 57}, "Too long for 1 of your clips (walk)"),
        ({"checkpoint_every": 500}, "no checkpoint would be saved"),
        ({"validation_prompts": "one\ntwo"}, "Choose the reference clip"),
    ],
)
def test_impossible_settings_are_refused_with_the_reason(maya, ready_draft, overrides, says):
    response = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, **overrides))
    assert response.status_code == 422
    assert says in response.content.decode()


def test_settings_that_need_more_memory_than_the_gpu_are_refused(maya, ready_draft, settings):
    settings.MODEL_PRESET = "ltx-2.3"
    response = maya.post(f"/wizard/{ready_draft.pk}/settings/",
                         settings_post(ready_draft, width=2048, height=1152, frames=41, rank=128))
    assert response.status_code == 422 and "GB of GPU memory" in response.content.decode()


def test_the_training_workers_gpu_memory_and_int8_weights_decide_what_fits(maya, ready_draft, settings):
    settings.MODEL_PRESET, settings.TRAINING_GPU_MEMORY_GB = "ltx-2.3", 48
    post = settings_post(ready_draft, width=768, height=448, frames=41, rank=32)
    refused = maya.post(f"/wizard/{ready_draft.pk}/settings/", post)
    assert refused.status_code == 422 and "than the 48 GB GPU" in refused.content.decode()
    settings.TRAINING_QUANTIZE = "int8"  # the transformer's weights take half the memory
    accepted = maya.post(f"/wizard/{ready_draft.pk}/settings/", post)
    assert accepted.status_code == 302


def test_the_estimate_updates_as_settings_change(maya, ready_draft):
    response = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, action="estimate"),
                         HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="estimate"') and "GPU memory" in body
    bad = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, frames=30, action="estimate"),
                    HTTP_HX_REQUEST="true").content.decode()
    assert "cannot work yet" in bad and "30 frames does not work" in bad


# --- Launch step and drafts


def test_launch_creates_the_run_queues_it_and_opens_the_run_page(maya, ready_draft, creator):
    pair = pairs(ready_draft)["walk"]
    saved = maya.post(f"/wizard/{ready_draft.pk}/settings/",
                      settings_post(ready_draft, validation_pairs=[pair.pk], validation_prompts="a rainy walk"))
    assert saved["Location"] == f"/wizard/{ready_draft.pk}/launch/"
    summary = maya.get(saved["Location"]).content.decode()
    assert "Launch training" in summary and "300 steps" in summary and "128×96, 33 frames" in summary
    response = maya.post(f"/wizard/{ready_draft.pk}/launch/")
    run = TrainingRun.objects.get()
    assert response["Location"] == f"/runs/{run.pk}/"
    assert (run.owner, run.dataset, run.state, run.total_steps) == (creator, ready_draft.dataset, "queued", 300)
    assert run.config["bucket"] == {"width": 128, "height": 96, "frames": 33, "fps": 24.0}
    assert run.config["validation"]["prompts"] == ["a rainy walk"]
    assert run.config["validation"]["reference_videos"] == [pair.reference_file.name]
    again = maya.post(f"/wizard/{ready_draft.pk}/launch/")  # a second click does not start a second run
    assert again["Location"] == f"/runs/{run.pk}/" and TrainingRun.objects.count() == 1


def test_with_all_of_each_clip_the_clips_and_launch_say_how_many_training_clips_and_the_run_cuts_them(
    maya, ready_draft
):
    # walk is 48 frames at 24 fps: two whole clips of 17 frames.
    saved = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, frames=17, whole_clips="on"))
    assert saved.status_code == 302

    clips_page = maya.get(f"/wizard/{ready_draft.pk}/clips/").content.decode()
    summary = maya.get(f"/wizard/{ready_draft.pk}/launch/").content.decode()
    maya.post(f"/wizard/{ready_draft.pk}/launch/")

    assert "Gives 2 training clips of 0.71 s, one after another, from its 2.00 s." in clips_page
    assert "Long clips cut into several: 2 training clips from 1 pair" in summary
    assert TrainingRun.objects.get().config["data"]["whole_clips"] is True


def test_without_all_of_each_clip_the_clips_step_says_how_much_is_left_unused(maya, ready_draft):
    maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, frames=17))

    page = maya.get(f"/wizard/{ready_draft.pk}/clips/").content.decode()

    assert "Training uses the first 0.71 s (17 frames) of 2.00 s. Turn on “Use all of each clip”" in page


def test_sample_clips_can_be_kept_out_of_training_when_enough_pairs_are_left(maya, clips):
    draft = start(maya)
    upload(maya, draft, {f"{n}.mp4": clips(f"{n}.mp4") for n in ("a", "b", "c")}
           | {f"{n}_ref.mp4": clips.ref(f"{n}_ref.mp4") for n in ("a", "b", "c")})
    by_name = pairs(draft)
    too_many = maya.post(f"/wizard/{draft.pk}/settings/", settings_post(
        draft, validation_pairs=[by_name["a"].pk, by_name["b"].pk], validation_prompts="one\ntwo",
        hold_out_validation="on"))
    assert too_many.status_code == 422 and "Only 1 pair would be left to train on" in too_many.content.decode()
    none_chosen = maya.post(f"/wizard/{draft.pk}/settings/", settings_post(draft, hold_out_validation="on"))
    assert "Choose the sample clips to keep out of training first." in none_chosen.content.decode()
    saved = maya.post(f"/wizard/{draft.pk}/settings/", settings_post(
        draft, validation_pairs=[by_name["b"].pk], validation_prompts="a rainy walk", hold_out_validation="on"))
    assert saved.status_code == 302
    assert "1 sample clip kept out of training" in maya.get(saved["Location"]).content.decode()
    maya.post(f"/wizard/{draft.pk}/launch/")
    assert TrainingRun.objects.get().config["held_out_pairs"] == [by_name["b"].pk]


@pytest.fixture
def mixed_draft(maya, clips) -> TrainingDraft:
    """A landscape pair (160×128) and a portrait pair (128×160)."""
    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref(),
                         "tall.mp4": clips("tall.mp4", width=128, height=160),
                         "tall_ref.mp4": clips.ref("tall_ref.mp4", width=128, height=160)})
    return draft


TWO_SHAPES = {"width": 128, "height": 96, "width_2": 96, "height_2": 128}


def findings_of(draft: TrainingDraft, name: str) -> list[str]:
    from wizard.plan import TrainingSettings
    from wizard.review import review_dataset

    draft.refresh_from_db()
    review = review_dataset(draft.dataset, TrainingSettings.from_dict(draft.settings).shapes)
    return [f["text"] for view in review.pairs if view.pair.name == name for f in view.findings]


def test_mixed_clips_get_a_shape_each_and_each_pairs_crop_note_uses_its_own_shape(maya, mixed_draft):
    page = maya.get(f"/wizard/{mixed_draft.pk}/settings/").content.decode()
    assert "Landscape shape · 1 clip" in page and "Portrait shape · 1 clip" in page
    assert 'name="width_2" value="96"' in page and 'name="height_2" value="160"' in page  # tiny preset 160×96, turned
    assert "Remove this shape" in page

    saved = maya.post(f"/wizard/{mixed_draft.pk}/settings/", settings_post(mixed_draft, **TWO_SHAPES))
    assert saved.status_code == 302
    tall = findings_of(mixed_draft, "tall")
    assert "Trains at 96×128, the shape closest to this clip's 128×160 (0.80:1)." in tall
    assert any(t.startswith("Cropped to 96×128: about 6% of the picture is cut off at the left") for t in tall)
    assert not any("128×96" in t for t in tall)
    assert any(t.startswith("Cropped to 128×96: about 6%") for t in findings_of(mixed_draft, "walk"))


def test_removing_a_shape_crops_its_clips_into_another_and_the_page_says_so(maya, mixed_draft):
    response = maya.post(f"/wizard/{mixed_draft.pk}/settings/",
                         settings_post(mixed_draft, **TWO_SHAPES, action="remove-2"))
    page = response.content.decode()
    assert response.status_code == 200 and 'name="width_2"' not in page and "Remove this shape" not in page
    assert ("No portrait shape: your 1 portrait clip is cropped into 128×96, which cuts off up to 40% of the "
            "picture. Pick the preset again to give it its own shape.") in page
    mixed_draft.refresh_from_db()
    assert mixed_draft.settings["extra_sizes"] == [] and mixed_draft.settings["width"] == 128
    assert any(t.startswith("Cropped to 128×96: about 40% of the picture is cut off at the top and bottom")
               for t in findings_of(mixed_draft, "tall"))

    first_removed = maya.post(f"/wizard/{mixed_draft.pk}/settings/",  # the portrait shape moves up to first place
                              settings_post(mixed_draft, **TWO_SHAPES, action="remove-1"), HTTP_HX_REQUEST="true")
    assert 'name="width" value="96"' in first_removed.content.decode()
    assert "No landscape shape" in first_removed.content.decode()


def test_each_preview_frames_the_part_of_the_clip_training_keeps(maya, mixed_draft):
    maya.post(f"/wizard/{mixed_draft.pk}/settings/", settings_post(mixed_draft, **TWO_SHAPES, action="remove-2"))

    page = maya.get(f"/wizard/{mixed_draft.pk}/clips/").content.decode()

    # tall: 128×160 (0.8:1) letterboxed in the 16:9 box to 45% of its width; 128×96 keeps 60% of its height.
    [tall] = [article for article in page.split("<article")[1:] if ">tall<" in article]
    assert 'style="left: 27.5%; top: 20.0%; width: 45.0%; height: 60.0%"' in tall
    assert "Dashed frame: the part training keeps at 128×96" in tall
    assert page.count('class="crop-guide"') == 4  # both clips of both pairs (walk loses 6%: still shown)


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"width_2": 100}, "Portrait shape 100×128: Width 100 is not a multiple of 32"),
        ({"reference_downscale_factor": 2, "width": 128, "height": 64, "width_2": 96, "height_2": 128},
         "Portrait shape 96×128: Width 96 is not a multiple of 64"),
        ({"width_2": 128, "height_2": 96}, "The same shape is listed twice"),
        ({"height_2": ""}, "Give this shape both a width and a height, or remove it."),
    ],
)
def test_each_shape_must_follow_the_models_rules(maya, mixed_draft, overrides, says):
    response = maya.post(f"/wizard/{mixed_draft.pk}/settings/",
                         settings_post(mixed_draft, **{**TWO_SHAPES, **overrides}))
    assert response.status_code == 422
    assert says in response.content.decode()


def test_the_launch_lists_the_shapes_with_their_pairs_and_the_run_gets_every_bucket(maya, mixed_draft):
    maya.post(f"/wizard/{mixed_draft.pk}/settings/", settings_post(mixed_draft, **TWO_SHAPES))
    summary = maya.get(f"/wizard/{mixed_draft.pk}/launch/").content.decode()
    assert "Clips used at 2 shapes" in summary
    assert "<li>128×96: 1 pair</li>" in summary and "<li>96×128: 1 pair</li>" in summary
    maya.post(f"/wizard/{mixed_draft.pk}/launch/")
    config = TrainingRun.objects.get().config
    assert config["bucket"] == {"width": 128, "height": 96, "frames": 33, "fps": 24.0}
    assert config["extra_buckets"] == [{"width": 96, "height": 128, "frames": 33, "fps": 24.0}]


def test_a_creator_can_leave_and_come_back_to_the_step_they_were_on(maya, ready_draft):
    maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, steps=450))
    maya.get(f"/wizard/{ready_draft.pk}/launch/")
    assert maya.get(f"/wizard/{ready_draft.pk}/")["Location"] == f"/wizard/{ready_draft.pk}/launch/"
    assert 'value="450"' in maya.get(f"/wizard/{ready_draft.pk}/settings/").content.decode()
    index = maya.get("/wizard/").content.decode()
    assert "Continue where you left off" in index and f"/wizard/{ready_draft.pk}/" in index


def test_a_dataset_can_be_reused_for_a_new_training(maya, ready_draft):
    maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft))
    maya.post(f"/wizard/{ready_draft.pk}/launch/")
    response = maya.post(f"/wizard/datasets/{ready_draft.dataset_id}/new-training/")
    second = TrainingDraft.objects.latest("pk")
    assert second.pk != ready_draft.pk and second.dataset_id == ready_draft.dataset_id
    assert response["Location"] == f"/wizard/{second.pk}/settings/"
    page = maya.get(f"/wizard/datasets/{ready_draft.dataset_id}/").content.decode()
    assert "Waiting for a GPU" in page and "Draft" in page


# --- Ownership


def test_every_wizard_page_is_404_for_another_creator(client, creator, other_creator, clips):
    client.force_login(creator)
    draft = start(client)
    upload(client, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    pair = pairs(draft)["a"]
    file_id = pair.target_source_id
    client.force_login(other_creator)
    gets = [f"/wizard/{draft.pk}/", f"/wizard/{draft.pk}/recipe/", f"/wizard/{draft.pk}/clips/",
            f"/wizard/{draft.pk}/clips/pairs/", f"/wizard/{draft.pk}/settings/", f"/wizard/{draft.pk}/launch/",
            f"/wizard/files/{file_id}/", f"/wizard/files/{file_id}/poster/", f"/wizard/files/{file_id}/preview/",
            f"/wizard/datasets/{draft.dataset_id}/"]
    posts = [f"/wizard/{draft.pk}/clips/upload/", f"/wizard/{draft.pk}/pairs/{pair.pk}/caption/",
             f"/wizard/{draft.pk}/pairs/{pair.pk}/delete/", f"/wizard/{draft.pk}/files/{file_id}/delete/",
             f"/wizard/{draft.pk}/settings/", f"/wizard/{draft.pk}/launch/", f"/wizard/{draft.pk}/recipe/",
             f"/wizard/datasets/{draft.dataset_id}/new-training/"]
    assert {url: client.get(url).status_code for url in gets} == dict.fromkeys(gets, 404)
    assert {url: client.post(url).status_code for url in posts} == dict.fromkeys(posts, 404)
    assert pairs(draft)["a"].caption == "" and not TrainingRun.objects.exists()


def test_a_file_of_another_dataset_cannot_be_deleted_through_my_draft(maya, creator, clips):
    mine = start(maya)
    other = start(maya)
    upload(maya, other, {"a.mp4": clips("t.mp4")})
    record = other.dataset.files.get()
    assert maya.post(f"/wizard/{mine.pk}/files/{record.pk}/delete/").status_code == 404


def test_the_wizard_needs_a_signed_in_creator(client):
    response = client.get("/wizard/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_dashboard_points_into_the_wizard(maya, ready_draft):
    page = maya.get("/dashboard/").content.decode()
    assert 'href="/wizard/"' in page and f'href="/wizard/datasets/{ready_draft.dataset_id}/"' in page
    assert Dataset.objects.count() == 1


# --- Deleting a dataset


def test_deleting_a_dataset_removes_its_pairs_drafts_and_files(maya, clips, django_capture_on_commit_callbacks):
    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref()})
    stored = [name for record in draft.dataset.files.all() for name in record.stored_names]
    assert stored and all(default_storage.exists(name) for name in stored)
    page = maya.get(f"/wizard/datasets/{draft.dataset_id}/").content.decode()
    assert "Its 1 pair and every uploaded file go for good" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = maya.post(f"/wizard/datasets/{draft.dataset_id}/delete/", follow=True)
    assert "was deleted, with its clips" in response.content.decode()
    assert not Dataset.objects.exists() and not ClipPair.objects.exists() and not TrainingDraft.objects.exists()
    assert not any(default_storage.exists(name) for name in stored)


def test_a_dataset_that_runs_were_trained_on_stays_until_they_are_deleted(maya, creator):
    from tests.factories import make_dataset, make_run

    dataset = make_dataset(creator, name="Streets")
    make_run(creator, dataset=dataset, name="Streets v1", state=TrainingRun.State.SUCCEEDED)
    assert "Delete them first" in maya.get(f"/wizard/datasets/{dataset.pk}/").content.decode()
    response = maya.post(f"/wizard/datasets/{dataset.pk}/delete/", follow=True)
    assert "1 training run was trained on this dataset (“Streets v1”)" in response.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_another_creator_cannot_delete_a_dataset(creator, other_creator):
    from tests.factories import make_dataset

    dataset = make_dataset(creator)
    otto = Client()
    otto.force_login(other_creator)
    assert otto.post(f"/wizard/datasets/{dataset.pk}/delete/").status_code == 404
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_a_clip_a_studio_generation_uses_outlives_its_dataset(maya, creator, clips, django_capture_on_commit_callbacks):
    from studio.models import Generation

    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref()})
    reference = pairs(draft)["walk"].reference_file.name
    Generation.objects.create(owner=creator, prompt="p", state="succeeded", reference_file=reference)
    with django_capture_on_commit_callbacks(execute=True):
        maya.post(f"/wizard/datasets/{draft.dataset_id}/delete/")
    assert not Dataset.objects.exists() and default_storage.exists(reference)


def test_a_file_name_too_long_to_keep_is_refused_plainly_and_nothing_is_stored(maya, clips):
    draft = start(maya)
    long_name = "a" * 300 + ".mp4"

    response = upload(maya, draft, {long_name: clips("t.mp4")}, HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert "has a name of 304 characters with its folders; the limit is 255" in response.json()["problems"][0]
    assert not draft.dataset.files.exists()
