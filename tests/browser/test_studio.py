"""A creator goes from "Try in Studio" on a finished run to a playable side-by-side result, in Chromium."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from playwright.sync_api import Page, expect
from safetensors.torch import save

from engine.synthetic import make_clip
from prep.models import Extraction
from studio.models import Adapter, Generation
from tests.factories import make_run
from tests.helpers import random_adapter_tensors, sign_in
from training.models import Checkpoint

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def _adapter_bytes() -> bytes:
    tensors = random_adapter_tensors(seed=0)
    metadata = {"reference_downscale_factor": "1", "trigger": "RESTORE", "rank": "4", "base_model": "tiny",
                "bucket": "128x96x9@24"}
    return save(tensors, metadata=metadata)


def _finished_run(owner):
    run = make_run(owner, name="Street restore", state="succeeded", step=500, total_steps=500,
                   finished_at=timezone.now(), state_reason="Your adapter is ready.")
    checkpoint = Checkpoint(run=run, step=500, size_bytes=1000)
    checkpoint.adapter_file.save("export.safetensors", ContentFile(_adapter_bytes()), save=False)
    checkpoint.save()
    return run, checkpoint


def _video_plays(page: Page, selector: str) -> None:
    page.wait_for_function(
        "s => { const v = document.querySelector(s); return v && v.readyState >= 2 && v.videoWidth > 0; }",
        arg=selector, timeout=30_000)


def _posters_show(page: Page, selector: str, count: int) -> None:
    """Every video matching `selector` has a poster the browser can show as a picture."""
    page.wait_for_function("""async ([selector, count]) => {
      const videos = [...document.querySelectorAll(selector)];
      const shown = await Promise.all(videos.map(v => new Promise(ok => {
        if (!v.poster) return ok(false);
        const image = new Image(); image.onload = () => ok(image.naturalWidth > 0); image.onerror = () => ok(false);
        image.src = v.poster; })));
      return shown.length === count && shown.every(Boolean);
    }""", arg=[selector, count], timeout=30_000)


def test_a_creator_tries_a_checkpoint_from_the_finished_run_and_plays_the_result_beside_the_baseline(
    page: Page, live_asgi_url: str, celery_worker, creator, tmp_path, screenshots_dir
):
    run, _checkpoint = _finished_run(creator)
    reference = make_clip(tmp_path / "street_degraded.mp4", seed=2, width=160, height=128, degrade=True)
    sign_in(page, live_asgi_url, creator.username)
    page.goto(f"{live_asgi_url}/runs/{run.pk}/")
    page.get_by_role("link", name="Try step 500 in Studio").click()

    expect(page.get_by_role("heading", name="Try an adapter")).to_be_visible()
    expect(page.get_by_label("IC-LoRA to try").locator("option:checked")).to_have_text(
        "Street restore · step 500 (trained here · rank 4)")
    expect(page.get_by_label("Describe the video you want")).to_have_value("RESTORE ")  # trigger prepended
    page.get_by_label("Upload a video").set_input_files(reference)
    page.get_by_label("Describe the video you want").fill("RESTORE a sharp sunny street, cars passing by")
    page.get_by_label("Frames", exact=True).fill("10")  # snapped to 9, with a note
    page.get_by_label("Steps", exact=True).fill("4")
    page.get_by_label("Seed", exact=True).fill("11")
    page.locator("#attention_strength").fill("0.8")
    expect(page.locator("#strength-out")).to_have_text("0.8")
    page.get_by_label("Fade in over the first frames").check()
    expect(page.get_by_label("Fade in over the first", exact=True)).to_be_visible()
    page.get_by_label("Fade in over the first", exact=True).fill("4")
    expect(page.get_by_label("Also make the same video without the adapter (same seed), to compare")).to_be_checked()
    page.screenshot(path=screenshots_dir / "studio-form.png", full_page=True)
    page.get_by_role("button", name="Generate").click()

    expect(page.locator("#generation-state")).to_have_text("Done", timeout=120_000)
    expect(page.get_by_text("Frames: 10 → 9")).to_be_visible()
    for label in ("Reference video", "Result with the adapter", "Result without the adapter"):
        expect(page.get_by_label(label)).to_be_visible()
    _posters_show(page, "#compare video", 3)  # a picture in each before anything plays
    page.screenshot(path=screenshots_dir / "studio-result-before-play.png", full_page=True)
    for kind in ("reference", "output", "baseline"):
        _video_plays(page, f'#compare video[src$="/{kind}.mp4"]')
    page.get_by_role("button", name="Play together").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    assert page.evaluate("Array.from(document.querySelectorAll('#compare video')).every(v => !v.paused)")
    page.screenshot(path=screenshots_dir / "studio-result.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download result (mp4)").click()
    assert download.value.suggested_filename.endswith("-output.mp4")

    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots_dir / "studio-result-phone.png", full_page=True)
    page.get_by_role("link", name="Reuse these settings").click()
    expect(page.get_by_label("Seed", exact=True)).to_have_value("11")
    expect(page.get_by_label("Fade in over the first frames")).to_be_checked()
    expect(page.get_by_label("Use the same reference as before (street_degraded.mp4)")).to_be_checked()
    page.screenshot(path=screenshots_dir / "studio-form-phone.png", full_page=True)
    page.get_by_role("button", name="Generate").click()  # the same reference, no upload needed
    expect(page.locator("#generation-state")).to_have_text("Done", timeout=120_000)

    # The adapter's own page, from the dashboard: what it is, and that it made both generations
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_asgi_url + "/dashboard/")
    page.locator("#adapters-h ~ a.row").first.click()
    expect(page.locator("main")).to_contain_text("Used in the Studio")
    expect(page.locator("main")).to_contain_text("2 generations")
    expect(page.get_by_role("link", name="Try in Studio")).to_be_visible()
    page.screenshot(path=screenshots_dir / "adapter.png", full_page=True)


def test_a_creator_makes_an_edge_video_from_an_ordinary_clip_and_uses_it_as_the_reference(
    page: Page, live_asgi_url: str, celery_worker, creator, screenshots_dir, tmp_path
):
    clip = make_clip(tmp_path / "street.mp4", seed=2, width=160, height=128, seconds=1.0)
    sign_in(page, live_asgi_url, creator.username)
    page.goto(live_asgi_url + "/studio/")
    page.get_by_role("link", name="Make its control video").click()
    expect(page.get_by_role("heading", name="Make a control video")).to_be_visible()
    page.get_by_label("Edge map").check()
    page.get_by_label("Upload a clip").set_input_files(clip)
    page.get_by_role("button", name="Make it").click()
    expect(page.get_by_role("heading", name="Edge map of street.mp4")).to_be_visible()
    use = page.get_by_role("link", name="Use it as the reference in the Studio")
    expect(use).to_be_visible(timeout=60_000)
    _video_plays(page, "#control-progress video")
    _posters_show(page, "#control-progress video", 2)
    page.screenshot(path=screenshots_dir / "studio-control.png", full_page=True)
    use.click()
    expect(page.get_by_label("…or a control video you made").locator("option:checked")).to_have_text(
        "Edge map of street.mp4")


def test_the_frame_rate_follows_the_chosen_adapter_or_reference_and_says_which_it_is(
    page: Page, live_asgi_url: str, creator, screenshots_dir
):
    Adapter.objects.create(owner=creator, name="Depth v2", source=Adapter.Source.TRAINED, file="a/depth.safetensors",
                           metadata={"bucket": "128x96x9@12"})
    Adapter.objects.create(owner=creator, name="Old LoRA", source=Adapter.Source.UPLOADED, file="a/old.safetensors")
    Extraction.objects.create(owner=creator, method=Extraction.Method.CANNY, state=Extraction.State.DONE,
                              source="p/walk.mp4", source_name="walk.mp4", source_sha256="0" * 64, settings_key="k",
                              output="p/walk_edges.mp4", report={"fps": 30.0, "frames": 60}, finished_at=timezone.now())
    sign_in(page, live_asgi_url, creator.username)
    page.goto(live_asgi_url + "/studio/")
    rate, help_text = page.get_by_label("Frame rate"), page.locator("#frame-rate-help")
    blank = ("Frame rate left blank: the rate of your reference video (24 fps, the model's usual rate, for a still "
             "image).")
    expect(rate).to_have_value("")  # no adapter chosen yet
    expect(help_text).to_have_text(blank)

    adapter = page.get_by_label("IC-LoRA to try")
    adapter.select_option(label="Depth v2 (trained here)")
    expect(rate).to_have_value("12")
    expect(help_text).to_have_text("Frame rate 12 fps: the rate “Depth v2” was trained at.")
    adapter.select_option(label="Old LoRA (uploaded)")  # it does not say what rate it was trained at
    expect(rate).to_have_value("")
    expect(help_text).to_have_text(blank)
    page.get_by_label("…or a control video you made").select_option(label="Edge map of walk.mp4")
    expect(rate).to_have_value("30")
    expect(help_text).to_have_text("Frame rate 30 fps: the rate of your reference “Edge map of walk.mp4”.")
    page.locator("#s-size").scroll_into_view_if_needed()
    page.locator("section[aria-labelledby='s-size']").screenshot(path=screenshots_dir / "studio-frame-rate.png")

    rate.fill("25")  # the creator's own rate is kept whatever is chosen next
    adapter.select_option(label="Depth v2 (trained here)")
    expect(rate).to_have_value("25")


def test_the_result_videos_keep_their_size_while_their_posters_are_still_on_their_way(
    page: Page, live_asgi_url: str, creator, tmp_path, screenshots_dir
):
    """In the deployment the posters are made on first request and come from the bucket, after the videos' first
    frames; Chromium laid such a video out 0 px high until its poster came (the smoke check's Studio screenshot)."""
    adapter = Adapter.objects.create(owner=creator, name="Street restore", source=Adapter.Source.UPLOADED,
                                     file="a/restore.safetensors")
    settings = {"adapter_name": "Street restore", "adapter_scale": 1.0, "reference_name": "street.mp4",
                "width": 160, "height": 128, "num_frames": 9, "frame_rate": 24.0, "num_inference_steps": 4, "seed": 7}
    generation = Generation(owner=creator, adapter=adapter, prompt="a sunny street", settings=settings,
                            state=Generation.State.SUCCEEDED)
    # The reference plays from the preview the worker makes of it.
    for field, seed in (("reference_file", 1), ("reference_preview_file", 1), ("output_file", 2),
                        ("baseline_file", 3)):
        clip = make_clip(tmp_path / f"{field}.mp4", seed=seed, width=160, height=128, seconds=0.5)
        getattr(generation, field).save(clip.name, ContentFile(clip.read_bytes()), save=False)
    generation.save()
    held = []  # the posters' requests, answered only once the videos are measured
    page.route("**/studio/generations/*/*.jpg", lambda route: held.append(route))
    sign_in(page, live_asgi_url, creator.username)
    page.goto(f"{live_asgi_url}/studio/generations/{generation.pk}/", wait_until="domcontentloaded")  # posters held
    page.wait_for_function("() => [...document.querySelectorAll('#compare video')].every(v => v.readyState >= 2)",
                           timeout=30_000)
    assert len(held) == 3  # every poster still on its way
    boxes = page.evaluate("[...document.querySelectorAll('#compare video')].map(v => v.getBoundingClientRect())")
    page.screenshot(path=screenshots_dir / "studio-result-posters-pending.png", full_page=True)
    for box in boxes:
        assert box["height"] == pytest.approx(box["width"] * 128 / 160, abs=1.5)
    for route in held:
        route.continue_()
