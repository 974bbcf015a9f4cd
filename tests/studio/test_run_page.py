"""The run page and its controls, rebuilt from the database; every object checked for ownership."""

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from engine.synthetic import make_clip
from jobs.lifecycle import Holder
from tests.factories import make_run, sent_tasks
from training.events import record_event
from training.models import Checkpoint, RunEvent, RunMetric, TrainingRun, ValidationSample
from training.progress import time_left
from training.reporting import RunReporter
from training.runner import claim
from training.runs import transition

pytestmark = pytest.mark.django_db
State = TrainingRun.State


def _checkpoint(run, step=50):
    checkpoint = Checkpoint(run=run, step=step, size_bytes=5)
    checkpoint.adapter_file.save("adapter.safetensors", ContentFile(b"12345"), save=False)
    checkpoint.state_file.save("state.pt", ContentFile(b"state"), save=False)
    checkpoint.save()
    return checkpoint


def test_the_page_shows_progress_loss_and_log_from_the_database(client: Client, creator):
    run = make_run(creator, state=State.TRAINING, step=40, total_steps=100, loss=0.1234, name="Depth v2")
    RunMetric.objects.bulk_create([RunMetric(run=run, step=s, loss=1.0 / s) for s in range(1, 41)])
    record_event(run.pk, "log", {"message": "pair 1: cropped to 768x448"})
    client.force_login(creator)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Depth v2" in page and "0.1234" in page and "pair 1: cropped to 768x448" in page
    assert 'aria-valuenow="40"' in page
    assert '[[1, 1.0], [2, 0.5]' in page  # loss points for the chart
    assert "Stop training" in page and "Save a checkpoint now" in page


def test_every_run_url_is_404_for_another_creator(client: Client, creator, other_creator):
    reference = default_storage.save("clips/ref.mp4", ContentFile(b"reference"))
    run = make_run(creator, state=State.TRAINING, config={"validation": {"reference_videos": [reference]}})
    checkpoint = _checkpoint(run)
    sample = ValidationSample(run=run, step=1, prompt="p")
    sample.video_file.save("s.mp4", ContentFile(b"mp4"), save=True)
    client.force_login(other_creator)
    for url in (f"/runs/{run.pk}/", f"/runs/{run.pk}/events/", f"/runs/{run.pk}/part/status/",
                f"/checkpoints/{checkpoint.pk}/download/", f"/samples/{sample.pk}/video/",
                f"/runs/{run.pk}/validation/0/reference/"):
        assert client.get(url).status_code == 404, url
    for url in (f"/runs/{run.pk}/cancel/", f"/checkpoints/{checkpoint.pk}/continue/"):
        assert client.post(url, {"extra_steps": 10}).status_code == 404, url
    run.refresh_from_db()
    assert not run.cancel_requested and TrainingRun.objects.count() == 1


def test_stopping_a_training_run_asks_the_worker_and_logs_it(client: Client, creator):
    run = make_run(creator, state=State.TRAINING, worker="gpu-1", heartbeat_at=timezone.now())  # it beats
    client.force_login(creator)
    response = client.post(f"/runs/{run.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert "Stopping…" in response.content.decode()
    run.refresh_from_db()
    assert run.cancel_requested and run.state == State.TRAINING
    assert run.events.get(seq=1).payload["message"] == "Stopping after the current step…"


def test_stopping_a_run_whose_worker_went_silent_ends_it_at_once_and_it_can_be_deleted(client: Client, creator):
    run = make_run(creator, state=State.TRAINING, worker="gpu-1", heartbeat_at=timezone.now() - timedelta(minutes=2))
    client.force_login(creator)
    page = client.post(f"/runs/{run.pk}/cancel/", follow=True).content.decode()
    run.refresh_from_db()
    assert run.state == State.CANCELLED and run.finished_at is not None
    assert "the machine working on it had stopped answering" in page and "Stopping…" not in page
    client.post(f"/runs/{run.pk}/delete/")
    assert not TrainingRun.objects.filter(pk=run.pk).exists()


def test_stopping_a_queued_run_cancels_it_at_once(client: Client, creator):
    run = make_run(creator, state=State.QUEUED)
    client.force_login(creator)
    client.post(f"/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    assert run.state == State.CANCELLED and run.finished_at is not None


def test_save_now_is_refused_in_plain_words_unless_training(client: Client, creator):
    run = make_run(creator, state=State.SUCCEEDED)
    client.force_login(creator)
    page = client.post(f"/runs/{run.pk}/save/", follow=True).content.decode()
    assert "That only works while the run is training." in page
    training = make_run(creator, state=State.TRAINING)
    client.post(f"/runs/{training.pk}/save/")
    assert TrainingRun.objects.get(pk=training.pk).save_requested


def test_continuing_from_a_checkpoint_queues_a_new_run_that_resumes_there(
    client: Client, creator, django_capture_on_commit_callbacks
):
    run = make_run(creator, state=State.SUCCEEDED, config={"optim": {"steps": 50}}, name="Pose")
    checkpoint = _checkpoint(run, step=50)
    client.force_login(creator)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/checkpoints/{checkpoint.pk}/continue/", {"extra_steps": "200"})
    new = TrainingRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/runs/{new.pk}/"
    assert (new.state, new.resume_from, new.config["optim"]["steps"], new.name) == (
        State.QUEUED, checkpoint, 250, "Pose (continued)",
    )
    assert sent_tasks(callbacks) == [("training.tasks.train_run", (new.pk,))]


@pytest.mark.parametrize("extra", ["", "lots", "0", "1000000"])
def test_continuing_refuses_bad_step_counts_and_creates_nothing(client: Client, creator, extra):
    run = make_run(creator, state=State.SUCCEEDED)
    checkpoint = _checkpoint(run)
    client.force_login(creator)
    page = client.post(f"/checkpoints/{checkpoint.pk}/continue/", {"extra_steps": extra}, follow=True)
    assert page.redirect_chain[-1][0] == f"/runs/{run.pk}/"
    assert TrainingRun.objects.count() == 1
    assert any(word in page.content.decode() for word in ("whole number", "at least one step", "At most"))


def test_the_events_endpoint_returns_what_came_after_a_sequence_number(client: Client, creator):
    run = make_run(creator)
    for i in range(3):
        record_event(run.pk, "log", {"message": f"line {i}"})
    client.force_login(creator)
    events = client.get(f"/runs/{run.pk}/events/?after=1").json()["events"]
    assert [e["seq"] for e in events] == [2, 3]
    assert client.get(f"/runs/{run.pk}/events/?after=nonsense").json()["events"][0]["seq"] == 1


def test_a_checkpoint_downloads_as_a_named_safetensors_file(client: Client, creator):
    run = make_run(creator, name="Canny v1")
    checkpoint = _checkpoint(run, step=250)
    client.force_login(creator)
    response = client.get(f"/checkpoints/{checkpoint.pk}/download/")
    assert response["Content-Disposition"] == 'attachment; filename="Canny_v1-step250.safetensors"'  # one word
    assert b"".join(response.streaming_content) == b"12345"  # type: ignore[attr-defined]


def _sample(run, step, index):
    sample = ValidationSample(run=run, step=step, prompt=f"prompt {index}")
    sample.video_file.save(f"step{step}_{index}.mp4", ContentFile(b"mp4"), save=True)
    return sample


def test_samples_show_as_a_grid_of_clips_by_step_beside_their_references(client: Client, creator):
    references = [default_storage.save(f"clips/ref{i}.mp4", ContentFile(f"reference {i}".encode())) for i in (0, 1)]
    config = {"validation": {"prompts": ["a street at dawn", "a beach"], "reference_videos": references}}
    run = make_run(creator, state=State.TRAINING, config=config)
    made = {(step, i): _sample(run, step, i) for step in (100, 200) for i in (0, 1)}
    _checkpoint(run, step=200)
    client.force_login(creator)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert "“a street at dawn”" in rows[0] and "“a beach”" in rows[1]
    for index, row in enumerate(rows):
        assert f'/runs/{run.pk}/validation/{index}/reference/' in row
        # newest step first
        assert row.index(f"/samples/{made[200, index].pk}/video/") < row.index(f"/samples/{made[100, index].pk}/video/")
    header = page.split("<thead>")[1].split("</thead>")[0]
    assert header.index("Step 200") < header.index("Step 100") and header.count("Try in Studio") == 1

    reference: Any = client.get(f"/runs/{run.pk}/validation/1/reference/")
    assert reference.status_code == 200 and b"".join(reference.streaming_content) == b"reference 1"
    assert client.get(f"/runs/{run.pk}/validation/2/reference/").status_code == 404


def test_deleting_an_ended_run_removes_its_files_but_keeps_its_adapters(
    client: Client, creator, django_capture_on_commit_callbacks
):
    from studio.models import Adapter

    run = make_run(creator, state=State.SUCCEEDED, name="Old try")
    shared, alone = _checkpoint(run, step=50), _checkpoint(run, step=100)
    # "Try in Studio" makes an adapter that shares the checkpoint's file (studio.adapters.adapter_for_checkpoint)
    tried = Adapter(owner=creator, name="Old try · step 50", source=Adapter.Source.TRAINED, checkpoint=shared, run=run)
    tried.file.name = shared.adapter_file.name
    tried.save()
    final = Adapter(owner=creator, name="Old try", source=Adapter.Source.TRAINED, run=run)
    final.file.save("final.safetensors", ContentFile(b"final"), save=True)
    sample = _sample(run, 100, 0)
    gone = [alone.adapter_file.name, alone.state_file.name, shared.state_file.name, sample.video_file.name]
    client.force_login(creator)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Delete “Old try”" in page and "2 checkpoints" in page

    with django_capture_on_commit_callbacks(execute=True):  # files go once the deletion commits
        response = client.post(f"/runs/{run.pk}/delete/", follow=True)
    assert "The run “Old try” was deleted" in response.content.decode()
    assert not TrainingRun.objects.filter(pk=run.pk).exists()
    assert not any(default_storage.exists(name) for name in gone)
    tried.refresh_from_db()
    final.refresh_from_db()
    assert tried.checkpoint is None and default_storage.exists(tried.file.name)
    assert final.run is None and default_storage.exists(final.file.name)


def test_a_run_that_is_still_going_is_not_deleted(client: Client, creator):
    run = make_run(creator, state=State.TRAINING)
    client.force_login(creator)
    assert "Stop it first" in client.get(f"/runs/{run.pk}/").content.decode()
    response = client.post(f"/runs/{run.pk}/delete/", follow=True)
    assert "This run is still going" in response.content.decode()
    assert TrainingRun.objects.filter(pk=run.pk).exists()


def test_another_creator_cannot_delete_a_run(client: Client, creator, other_creator):
    run = make_run(creator, state=State.FAILED)
    client.force_login(other_creator)
    assert client.post(f"/runs/{run.pk}/delete/").status_code == 404
    assert TrainingRun.objects.filter(pk=run.pk).exists()


# --- Each part htmx refreshes renders what it shows, and costs the same whatever the run's history


CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def _normalized(html: str) -> str:
    """Without the CSRF tokens (masked anew at every render) and the whitespace between tags."""
    return re.sub(r">\s+<", "><", CSRF.sub('name="csrfmiddlewaretoken"', html)).strip()


def _with_history(creator, *, state=State.TRAINING, events=300, steps=2000, every=250, clips=4) -> TrainingRun:
    """A run with a long history: `events` events, a loss point per step, a checkpoint and `clips` validation
    samples every `every` steps, and its adapter."""
    from studio.models import Adapter

    config = {"validation": {"prompts": [f"clip {i}" for i in range(clips)]}}
    run = make_run(creator, state=state, step=steps, total_steps=steps, loss=0.05, config=config,
                   worker="gpu-1" if state == State.TRAINING else "", heartbeat_at=timezone.now())
    kinds = ["progress"] * 8 + ["log", "checkpoint"]
    RunEvent.objects.bulk_create([
        RunEvent(run=run, seq=seq, kind=kinds[seq % len(kinds)],
                 payload={"message": f"line {seq}", "step": seq, "points": [[seq, 0.1]]})
        for seq in range(1, events + 1)])
    RunMetric.objects.bulk_create([RunMetric(run=run, step=s, loss=1.0 / s) for s in range(1, steps + 1)])
    marks = range(every, steps + 1, every)
    Checkpoint.objects.bulk_create([Checkpoint(run=run, step=s, size_bytes=5, adapter_file=f"c/{run.pk}/{s}.st")
                                    for s in marks])
    ValidationSample.objects.bulk_create([ValidationSample(run=run, step=s, prompt=f"clip {i}", video_file=f"s/{s}_{i}")
                                          for s in marks for i in range(clips)])
    if state == State.SUCCEEDED:
        Adapter.objects.create(owner=creator, name="Depth adapter", source=Adapter.Source.TRAINED, run=run,
                               file="a/final.safetensors")
    return run


PARTS = ("status", "checkpoints", "samples", "delete")


@pytest.mark.parametrize("state", [State.TRAINING, State.SUCCEEDED, State.QUEUED])
@pytest.mark.parametrize("part", PARTS)
def test_each_part_renders_what_the_page_shows_in_its_place(client: Client, creator, state, part):
    run = _with_history(creator, state=state, events=40, steps=500, every=100)
    if state == State.QUEUED:
        make_run(creator, state=State.QUEUED, queued_at=timezone.now() - timedelta(minutes=5))
        TrainingRun.objects.filter(pk=run.pk).update(queued_at=timezone.now())
    client.force_login(creator)
    page = _normalized(client.get(f"/runs/{run.pk}/").content.decode())
    html = _normalized(client.get(f"/runs/{run.pk}/part/{part}/", HTTP_HX_REQUEST="true").content.decode())
    assert html.startswith(("<section", "<details")) and f'id="run-{part}"' in html
    assert html in page  # the very same markup, links included


def test_the_parts_show_the_run_state_checkpoints_samples_and_adapter(client: Client, creator):
    run = _with_history(creator, state=State.SUCCEEDED, events=40, steps=500, every=100, clips=2)
    client.force_login(creator)

    def part(name: str) -> str:
        return client.get(f"/runs/{run.pk}/part/{name}/", HTTP_HX_REQUEST="true").content.decode()

    status = part("status")
    assert "Finished" in status and '<span class="stage-detail">500 steps</span>' in status
    assert "Your adapter is ready." in status and "Download Depth adapter.safetensors" in status
    checkpoints = part("checkpoints")
    assert [f"Step {s} " in checkpoints for s in (500, 100)] == [True, True]
    assert checkpoints.index("Step 500 ") < checkpoints.index("Step 100 ") and "Continue training" in checkpoints
    samples = part("samples")
    assert samples.count('src="/samples/') == 10 and "“clip 1”" in samples and samples.count("Try in Studio") == 5
    assert "5 checkpoints" in part("delete")


@pytest.mark.parametrize(("part", "most"), [("status", 4), ("checkpoints", 4), ("samples", 5), ("delete", 4)])
def test_a_part_takes_the_same_few_queries_whatever_the_runs_history(
    client: Client, creator, django_assert_max_num_queries, part, most
):
    short = _with_history(creator, state=State.SUCCEEDED, events=5, steps=10, every=5, clips=1)
    long = _with_history(creator, state=State.SUCCEEDED, events=300, steps=2000, every=250, clips=4)
    client.force_login(creator)
    counts = []
    for run in (short, long):
        client.get(f"/runs/{run.pk}/part/{part}/", HTTP_HX_REQUEST="true")  # the session is loaded once
        with django_assert_max_num_queries(most) as queries:
            assert client.get(f"/runs/{run.pk}/part/{part}/", HTTP_HX_REQUEST="true").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_whole_page_takes_the_same_queries_whatever_the_runs_history(
    client: Client, creator, django_assert_max_num_queries
):
    short = _with_history(creator, state=State.SUCCEEDED, events=5, steps=10, every=5, clips=1)
    long = _with_history(creator, state=State.SUCCEEDED, events=300, steps=2000, every=250, clips=4)
    client.force_login(creator)
    counts = []
    for run in (short, long):
        with django_assert_max_num_queries(9) as queries:
            assert client.get(f"/runs/{run.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_page_log_is_the_last_lines_among_the_runs_recent_events(client: Client, creator):
    run = make_run(creator, state=State.TRAINING)
    # 100 early log lines, 200 progress events, then 100 more log lines: the page looks at the last 300 events
    # (seq 101-400) and shows the last 80 log lines among them, oldest first.
    kinds = {seq: "log" if seq <= 100 or seq > 300 else "progress" for seq in range(1, 401)}
    RunEvent.objects.bulk_create([RunEvent(run=run, seq=seq, kind=kind, payload={"message": f"line {seq}."})
                                  for seq, kind in kinds.items()])
    client.force_login(creator)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    log = page.split('id="run-log"')[1].split("</ol>")[0]
    assert log.count("<li>") == 80 and "line 320." not in log and "line 100." not in log
    assert log.index("line 321.") < log.index("line 400.")
    assert 'data-last-seq="400"' in page


# --- Each stage with its own progress, one way of saying time, posters (issue 20: what a creator sees is true)


def test_a_page_reloaded_mid_preparation_shows_the_clip_being_prepared(client: Client, creator):
    run = make_run(creator, total_steps=100)
    transition(run, State.QUEUED, "Waiting for a GPU worker.")
    claimed = claim(run.pk, "gpu-1")
    assert claimed is not None
    reporter = RunReporter(Holder(claimed), flush_seconds=0)
    for clip in (1, 2, 3):
        reporter.on_stage(TrainingRun.Stage.PREPARING, clip, 9)  # as the engine reports it, on the one path
    client.force_login(creator)
    for url in (f"/runs/{run.pk}/", f"/runs/{run.pk}/part/status/"):
        status = _normalized(client.get(url, HTTP_HX_REQUEST="true" if "part" in url else "").content.decode())
        assert ('<li class="stage current" data-stage="preparing" aria-current="step">' in status
                and '<span class="stage-detail" id="stage-detail">Preparing clip 3 of 9</span>' in status), url
        assert '<li class="stage done" data-stage="waiting">' in status and 'aria-valuenow="22"' in status
        assert 'data-stage="preparing" hx-get' in status  # the page script compares live events with it
        assert ">Training<" not in status.split('id="run-state">')[1][:20]  # the badge says preparing


def test_the_time_left_is_said_the_one_way_the_worker_says_it_live(client: Client, creator):
    run = make_run(creator, state=State.TRAINING, started_at=timezone.now(), stage="training", step=40,
                   total_steps=100, eta_seconds=125.0, loss=0.2, steps_per_second=0.5)
    client.force_login(creator)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Step 40 of 100 · about 2 min left" in page and "125" not in page
    assert time_left(125.0) == "about 2 min left"  # what the progress events carry (training.reporting)


def test_before_the_first_steps_the_loss_chart_is_a_sentence(client: Client, creator):
    run = make_run(creator, state=State.PREPARING)
    client.force_login(creator)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert '<p id="loss-empty" class="chart-empty muted">The loss curve appears after the first steps.</p>' in page
    assert 'class="chart" aria-label="Loss over training steps" hidden>' in page
    RunMetric.objects.create(run=run, step=1, loss=0.3)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert '<p id="loss-empty" class="chart-empty muted" hidden>' in page
    assert 'class="chart" aria-label="Loss over training steps">' in page


def _video(tmp_path, name: str, seed: int) -> bytes:
    return make_clip(tmp_path / name, seed=seed, width=96, height=64, seconds=0.5).read_bytes()


def test_every_video_on_the_run_page_has_a_poster_its_owner_sees_and_nobody_else(
    client: Client, creator, other_creator, tmp_path
):
    reference = default_storage.save("clips/ref.mp4", ContentFile(_video(tmp_path, "ref.mp4", 1)))
    still = default_storage.save("clips/face.png", ContentFile(b"a photo"))
    run = make_run(creator, state=State.SUCCEEDED, config={"validation": {
        "prompts": ["a street", "a face"], "reference_videos": [reference, still]}})
    for index in (0, 1):
        sample = ValidationSample(run=run, step=10, prompt="p")
        sample.video_file.save(f"s{index}.mp4", ContentFile(_video(tmp_path, f"s{index}.mp4", 2 + index)), save=True)
    client.force_login(creator)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    videos = re.findall(r"<video [^>]*>", page)
    posters = [re.search(r'poster="([^"]+)"', video) for video in videos]
    assert len(videos) == 3 and all(posters), videos  # the video reference and both samples; the photo is an <img>
    urls = [poster.group(1) for poster in posters if poster]
    for url in urls:
        response: Any = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg", url
        assert b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"
    assert client.get(f"/runs/{run.pk}/validation/1/poster/").status_code == 404  # a photo needs no poster
    client.force_login(other_creator)
    for url in urls:
        assert client.get(url).status_code == 404, url
