"""Big pairs are decoded to the end on the real `cpu` worker; the page polls until the result is in."""

from __future__ import annotations

import io
import time

from django.test import Client

from tests.factories import make_user
from wizard.models import ClipPair, TrainingDraft


def test_a_big_pair_is_checked_on_the_cpu_worker_and_the_page_polls_until_it_is_done(
    transactional_db, celery_worker, settings, clips
):
    settings.WIZARD_INLINE_CHECK_BYTES = 0  # every pair counts as big
    client = Client()
    client.force_login(make_user("bea"))
    client.post("/wizard/start/", {"recipe": "restoration"})
    draft = TrainingDraft.objects.get()
    files = []
    for name, path in (("walk.mp4", clips("t.mp4")), ("walk_ref.mp4", clips.ref())):
        handle = io.BytesIO(path.read_bytes())
        handle.name = name
        files.append(handle)
    client.post(f"/wizard/{draft.pk}/clips/upload/", {"files": files})

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
    from tests.helpers import wait_for
    from tests.wizard.clips import make_clip, spliced

    parts = [make_clip(tmp_path / f"{i}.mp4", frames=24, source=s, gray=g)
             for i, (s, g) in enumerate((("testsrc2", False), ("mandelbrot", False), ("testsrc2", True),
                                         ("mandelbrot", True)))]
    client = Client()
    client.force_login(make_user("cleo"))
    client.post("/wizard/start/", {"recipe": "restoration"})
    draft = TrainingDraft.objects.get()
    files = []
    for name, path in (("walk.mp4", spliced(parts[0], parts[1], tmp_path / "t.mp4")),
                       ("walk_ref.mp4", spliced(parts[2], parts[3], tmp_path / "r.mp4"))):
        handle = io.BytesIO(path.read_bytes())
        handle.name = name
        files.append(handle)
    client.post(f"/wizard/{draft.pk}/clips/upload/", {"files": files})
    pair = draft.dataset.pairs.get()

    client.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/split/")

    wait_for(lambda: sorted(draft.dataset.pairs.values_list("name", "status")) == [
        ("walk_shot1", ClipPair.Status.OK), ("walk_shot2", ClipPair.Status.OK)], timeout=60)


def test_a_pair_with_a_made_reference_is_split_and_each_shot_gets_its_own_reference(
    transactional_db, celery_worker, tmp_path
):
    from tests.helpers import wait_for
    from tests.wizard.clips import make_clip, spliced

    first, second = (make_clip(tmp_path / f"{s}.mp4", frames=24, source=s) for s in ("testsrc2", "mandelbrot"))
    client = Client()
    client.force_login(make_user("dora"))
    client.post("/wizard/start/", {"recipe": "canny"})
    draft = TrainingDraft.objects.get()
    handle = io.BytesIO(spliced(first, second, tmp_path / "walk.mp4").read_bytes())
    handle.name = "walk.mp4"
    client.post(f"/wizard/{draft.pk}/clips/upload/", {"files": [handle]})
    wait_for(lambda: draft.dataset.pairs.get().target_meta.get("cuts") == [1.0], timeout=60)

    client.post(f"/wizard/{draft.pk}/pairs/{draft.dataset.pairs.get().pk}/split/")

    wait_for(lambda: sorted(draft.dataset.pairs.values_list("name", "status", "reference_is_derived")) == [
        ("walk_shot1", ClipPair.Status.OK, True), ("walk_shot2", ClipPair.Status.OK, True)], timeout=90)
    assert sorted(draft.dataset.files.values_list("name", flat=True)) == ["walk_shot1.mp4", "walk_shot2.mp4"]
