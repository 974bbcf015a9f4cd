"""Big pairs are decoded to the end on the real `cpu` worker; the page polls until the result is in."""

from __future__ import annotations

import io
import time
from pathlib import Path

from django.test import Client

from datasets.models import ClipPair
from tests.clips import make_clip, spliced, two_shot_pair
from tests.factories import make_user
from tests.helpers import wait_for
from wizard.models import TrainingDraft


def start_draft(username: str, recipe: str = "restoration") -> tuple[Client, TrainingDraft]:
    client = Client()
    client.force_login(make_user(username))
    client.post("/wizard/start/", {"recipe": recipe})
    return client, TrainingDraft.objects.get()


def upload(client: Client, draft: TrainingDraft, files: dict[str, Path]) -> None:
    handles = []
    for name, path in files.items():
        handle = io.BytesIO(path.read_bytes())
        handle.name = name
        handles.append(handle)
    client.post(f"/wizard/{draft.pk}/clips/upload/", {"files": handles})


def test_a_big_pair_is_checked_on_the_cpu_worker_and_the_page_polls_until_it_is_done(
    transactional_db, celery_worker, settings, clips
):
    settings.WIZARD_INLINE_CHECK_BYTES = 0  # every pair counts as big
    client, draft = start_draft("bea")
    upload(client, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref()})

    partial = client.get(f"/wizard/{draft.pk}/clips/pairs/").content.decode()
    pair = draft.dataset.pairs.get()
    if pair.status == ClipPair.Status.CHECKING:  # the worker may already be done on a fast machine
        assert 'hx-trigger="every 2s"' in partial and "Checking" in partial
    deadline = time.monotonic() + 60
    while pair.status in (ClipPair.Status.CHECKING, ClipPair.Status.PENDING) and time.monotonic() < deadline:
        time.sleep(0.3)
        pair.refresh_from_db()
    assert pair.status == ClipPair.Status.OK
    assert pair.target_meta["decoded_frames"] == 48
    done = client.get(f"/wizard/{draft.pk}/clips/pairs/").content.decode()
    assert "every 2s" not in done and "Ready" in done


def test_a_pair_is_split_into_its_shots_on_the_cpu_worker_while_the_page_says_so(
    transactional_db, celery_worker, tmp_path
):
    client, draft = start_draft("cleo")
    target, reference = two_shot_pair(tmp_path)
    upload(client, draft, {"walk.mp4": target, "walk_ref.mp4": reference})
    pair = draft.dataset.pairs.get()

    client.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/split/")

    wait_for(lambda: sorted(draft.dataset.pairs.values_list("name", "status")) == [
        ("walk_shot1", ClipPair.Status.OK), ("walk_shot2", ClipPair.Status.OK)], timeout=60)


def test_a_pair_with_a_made_reference_is_split_and_each_shot_gets_its_own_reference(
    transactional_db, celery_worker, tmp_path
):
    first, second = (make_clip(tmp_path / f"{s}.mp4", frames=24, source=s) for s in ("testsrc2", "mandelbrot"))
    client, draft = start_draft("dora", "canny")
    upload(client, draft, {"walk.mp4": spliced(first, second, tmp_path / "walk.mp4")})
    wait_for(lambda: draft.dataset.pairs.get().target_meta.get("cuts") == [1.0], timeout=60)

    client.post(f"/wizard/{draft.pk}/pairs/{draft.dataset.pairs.get().pk}/split/")

    wait_for(lambda: sorted(draft.dataset.pairs.values_list("name", "status", "reference_is_derived")) == [
        ("walk_shot1", ClipPair.Status.OK, True), ("walk_shot2", ClipPair.Status.OK, True)], timeout=90)
    assert sorted(draft.dataset.files.values_list("name", flat=True)) == ["walk_shot1.mp4", "walk_shot2.mp4"]
