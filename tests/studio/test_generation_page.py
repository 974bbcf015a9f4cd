"""The generation page's status part: what it shows, and that it is refreshed when the websocket says the state
changed (with a slow poll as the safety net), not every second."""

import re

import pytest
from django.test import Client

from studio.models import Adapter, Generation

pytestmark = pytest.mark.django_db
State = Generation.State
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def _normalized(html: str) -> str:
    return re.sub(r">\s+<", "><", CSRF.sub('name="csrfmiddlewaretoken"', html)).strip()


def _generation(creator, **fields) -> Generation:
    adapter = Adapter.objects.create(owner=creator, name="Depth v2", source=Adapter.Source.UPLOADED,
                                     file="a/depth.safetensors")
    settings = {"adapter_name": "Depth v2", "adapter_scale": 1.0, "reference_name": "walk.mp4", "width": 256,
                "height": 160, "num_frames": 25, "frame_rate": 24.0, "num_inference_steps": 20, "seed": 7}
    values = {"prompt": "a rainy street", "settings": settings, "reference_file": "g/reference.mp4", **fields}
    return Generation.objects.create(owner=creator, adapter=adapter, **values)


def _status(client: Client, generation: Generation) -> str:
    return client.get(f"/studio/generations/{generation.pk}/status/", HTTP_HX_REQUEST="true").content.decode()


@pytest.mark.parametrize("state", [State.QUEUED, State.RUNNING, State.SUCCEEDED, State.FAILED, State.CANCELLED])
def test_the_status_part_is_what_the_page_shows_in_its_place(client: Client, creator, state):
    generation = _generation(creator, state=state, progress=0.42, error_message="The reference is empty.")
    client.force_login(creator)
    page = _normalized(client.get(f"/studio/generations/{generation.pk}/").content.decode())
    part = _normalized(_status(client, generation))
    assert part.startswith('<section id="generation-result"') and part in page


def test_a_running_generation_is_refreshed_on_a_pushed_state_change_and_every_10_s_not_every_second(
    client: Client, creator
):
    generation = _generation(creator, state=State.RUNNING, progress=0.42)
    client.force_login(creator)
    part = _status(client, generation)
    assert 'hx-trigger="gen:update from:body, every 10s"' in part and "every 1s" not in part
    assert 'data-state="running"' in part and 'aria-valuenow="42"' in part and "width: 42%" in part
    # the page script writes the pushed progress into the line marked data-generating
    assert '<p class="muted" id="generation-progress" data-generating>Generating: 42%</p>' in part
    assert "/cancel/" in part and "Reuse these settings" in part


def test_the_progress_line_is_left_alone_while_waiting_or_stopping(client: Client, creator):
    client.force_login(creator)
    queued = _status(client, _generation(creator, state=State.QUEUED))
    assert "Waiting for a free machine…" in queued and "data-generating" not in queued
    assert 'hx-trigger="gen:update from:body, every 10s"' in queued
    stopping = _status(client, _generation(creator, state=State.RUNNING, progress=0.5, cancel_requested=True))
    assert "Stopping…" in stopping and "data-generating" not in stopping and "/cancel/" not in stopping


def test_a_finished_generation_shows_its_videos_and_is_not_refreshed_any_more(client: Client, creator):
    generation = _generation(creator, state=State.SUCCEEDED, progress=1.0, output_file="g/output.mp4",
                             reference_preview_file="g/reference_preview.mp4", baseline_file="g/baseline.mp4")
    client.force_login(creator)
    part = _status(client, generation)
    assert "hx-get" not in part and "hx-trigger" not in part and 'data-state="succeeded"' in part
    for kind in ("reference", "output", "baseline"):
        assert f"/studio/generations/{generation.pk}/{kind}.mp4" in part
    assert f'href="/studio/generations/{generation.pk}/output.mp4?download=1"' in part


def test_the_status_part_takes_three_queries(client: Client, creator, django_assert_max_num_queries):
    generation = _generation(creator, state=State.RUNNING, progress=0.42)
    client.force_login(creator)
    _status(client, generation)
    with django_assert_max_num_queries(3):  # session, creator, the generation with its adapters
        _status(client, generation)


@pytest.mark.parametrize(("guidance", "distilled", "said"),
                         [(1.0, False, True), (3.0, False, False), (3.0, True, True)])
def test_the_page_says_when_the_words_to_avoid_were_not_used(client: Client, creator, guidance, distilled, said):
    """A negative prompt only acts through guidance above 1 (the distilled preview has none), as the Studio's form
    says; the settings shown afterwards must not suggest it shaped a video it did not touch."""
    generation = _generation(creator, state=State.SUCCEEDED, negative_prompt="blurry, low quality")
    generation.settings.update(guidance_scale=guidance, distilled=distilled)
    generation.save()
    client.force_login(creator)
    page = client.get(f"/studio/generations/{generation.pk}/").content.decode()
    assert "blurry, low quality" in page
    assert ("(not used: it takes effect with guidance above 1)" in page) is said
