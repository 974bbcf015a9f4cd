"""Storage per creator and kind, from real files, and the clean-up of training caches."""

import shutil

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.test import Client

from datasets.models import ClipPair, DatasetFile, PartialUpload, UploadPiece
from operators import caches, storage_usage
from operators.worker_control import CACHE_USAGE, CLEAN_CACHES, ask_workers, live_workers
from studio.models import Adapter, Generation
from tests.factories import make_dataset, make_run
from tests.helpers import wait_for
from tests.operators.helpers import make_cache, store
from training.models import Checkpoint, TrainingRun, ValidationSample

State = TrainingRun.State
KB = 1024


@pytest.fixture
def own_disk(settings, tmp_path):
    """This test's own data folder and media root, so sizes are exact."""
    settings.DATA_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


def _fill(owner, run_state=State.SUCCEEDED) -> TrainingRun:
    """One of each kind of file for `owner`: 1 KB uploads … 7 KB of generations."""
    dataset = make_dataset(owner)
    upload = DatasetFile(dataset=dataset, name="targets/a.mp4", kind="video", size=1 * KB, sha256="0" * 64)
    store(upload.file, "a.mp4", 1 * KB)
    upload.save()
    pair = ClipPair(dataset=dataset, name="a", reference_is_derived=True)
    store(pair.reference_file, "a_depth.mp4", 2 * KB)
    pair.save()
    run = make_run(owner, dataset=dataset, state=run_state)
    make_cache(run.pk, 3 * KB)
    checkpoint = Checkpoint(run=run, step=10, size_bytes=1 * KB)
    for field_name in ("adapter_file", "training_file"):
        store(getattr(checkpoint, field_name), f"{field_name}.safetensors", 1 * KB)
    store(checkpoint.state_file, "state.pt", 2 * KB)
    checkpoint.save()
    sample = ValidationSample(run=run, step=10, prompt="p")
    store(sample.video_file, "sample.mp4", 5 * KB)
    sample.save()
    adapter = Adapter(owner=owner, name="a", source=Adapter.Source.TRAINED)
    store(adapter.file, "adapter.safetensors", 6 * KB)
    adapter.save()
    generation = Generation(owner=owner, prompt="p", state=Generation.State.SUCCEEDED)
    store(generation.reference_file, "ref.mp4", 3 * KB)
    store(generation.output_file, "out.mp4", 4 * KB)
    generation.save()
    return run


@pytest.mark.django_db
def test_it_sums_each_creators_files_by_kind_against_their_quota(own_disk, creator, other_creator, settings):
    settings.QUOTA_STORAGE_GB = 1
    _fill(creator)
    make_cache(424242, 2 * KB)  # a run deleted since
    report = storage_usage.storage_report()
    [usage] = report.creators
    assert usage.user == creator
    assert usage.by_kind == {"uploads": 1 * KB, "derived": 2 * KB, "caches": 3 * KB, "checkpoints": 4 * KB,
                             "samples": 5 * KB, "adapters": 6 * KB, "generations": 7 * KB}
    assert usage.total == 28 * KB
    assert usage.counted_bytes == 2 * KB and usage.quota_bytes == 1024**3 and not usage.over_quota
    assert report.orphan_cache_bytes == 2 * KB and report.total == 30 * KB
    assert report.missing_files == 0


@pytest.mark.django_db
def test_posters_and_preview_copies_count_with_the_uploads(own_disk, creator):
    upload = DatasetFile(dataset=make_dataset(creator), name="phone.mov", kind="video", size=4 * KB, sha256="0" * 64)
    store(upload.file, "phone.mov", 4 * KB)
    store(upload.poster, "phone.jpg", 1 * KB)
    store(upload.preview, "phone-preview.mp4", 2 * KB)
    upload.save()
    [usage] = storage_usage.storage_report().creators
    assert usage.by_kind["uploads"] == 7 * KB


@pytest.mark.django_db
def test_pieces_of_an_unfinished_upload_count_with_the_uploads(own_disk, creator):
    upload = PartialUpload.objects.create(dataset=make_dataset(creator), name="long.mov", size=10 * KB)
    for offset in (0, 3 * KB):
        piece = UploadPiece(upload=upload, offset=offset, length=3 * KB)
        store(piece.file, "piece", 3 * KB)
        piece.save()
    [usage] = storage_usage.storage_report().creators
    assert usage.by_kind["uploads"] == 6 * KB


@pytest.mark.django_db
def test_it_counts_a_derived_reference_once_and_studio_control_videos_too(own_disk, creator):
    from prep.models import Extraction

    pair = ClipPair(dataset=make_dataset(creator), name="a", reference_is_derived=True)
    for_pair = Extraction(owner=creator, method="depth", settings_key="k1", source_sha256="0" * 64)
    store(for_pair.source, "clip.mp4", 1 * KB)  # the creator's upload, counted with uploads already
    store(for_pair.output, "depth.mp4", 2 * KB)
    for_pair.save()
    pair.reference_file.name = for_pair.output.name
    pair.save()
    control = Extraction(owner=creator, method="canny", settings_key="k2", source_sha256="1" * 64, owns_source=True)
    store(control.source, "studio-clip.mp4", 3 * KB)
    store(control.output, "edges.mp4", 4 * KB)
    control.save()
    [usage] = storage_usage.storage_report().creators
    assert (usage.by_kind["derived"], usage.by_kind["uploads"]) == (6 * KB, 3 * KB)


@pytest.mark.django_db
@pytest.mark.usefixtures("s3_storage")
def test_it_sizes_files_kept_in_an_s3_bucket_the_same_way(own_disk, creator):
    _fill(creator)
    Adapter.objects.create(owner=creator, name="gone", source=Adapter.Source.UPLOADED,
                           file="users/1/adapters/never-uploaded.safetensors")
    report = storage_usage.storage_report()
    assert report.creators[0].total == 28 * KB
    assert report.missing_files == 1


@pytest.mark.django_db
def test_it_shows_an_operator_who_is_over_quota(own_disk, client: Client, operator, creator):
    creator.storage_quota_gb = 1
    creator.save()
    # The recorded size is what counts, as when a launch is checked; the file itself can be small.
    big = DatasetFile(dataset=make_dataset(creator), name="b.mp4", kind="video", size=2 * 1024**3, sha256="1" * 64)
    store(big.file, "b.mp4", 10)
    big.save()
    client.force_login(operator)
    page = client.get("/ops/storage/").content.decode()
    row = page.split(f'data-creator="{creator.username}"')[1].split("</tr>")[0]
    assert 'class="ops-highlight"' in row and "full: new trainings are refused" in row
    assert "Derived references" in page and "Training caches" in page


@pytest.mark.django_db
def test_it_counts_a_recorded_file_missing_from_storage(own_disk, creator):
    adapter = Adapter(owner=creator, name="gone", source=Adapter.Source.UPLOADED, file="users/1/adapters/gone.bin")
    adapter.save()
    assert storage_usage.storage_report().missing_files == 1


@pytest.mark.django_db
def test_the_cleanup_never_touches_a_queued_or_running_runs_cache(own_disk, client: Client, operator, creator):
    ended = {state: make_run(creator, state=state) for state in (State.SUCCEEDED, State.FAILED, State.CANCELLED)}
    active = {state: make_run(creator, state=state) for state in (State.QUEUED, State.PREPARING, State.TRAINING)}
    for run in (*ended.values(), *active.values()):
        make_cache(run.pk, 10 * KB)
    make_cache(424242, 10 * KB)  # a run deleted since
    client.force_login(operator)
    page = client.post("/ops/storage/clean-caches/", follow=True).content.decode()
    assert "Freed 40.0\xa0KB: training caches of 4 ended run(s)" in page
    assert "Kept the caches of 3 queued or running run(s)." in page
    for run in ended.values():
        assert not caches.runs_root().joinpath(str(run.pk)).exists()
    for run in active.values():
        assert caches.folder_size(caches.runs_root() / str(run.pk)) == 10 * KB
    assert not list(caches.runs_root().glob(".removing-*"))
    [entry] = LogEntry.objects.all()
    assert entry.user == operator and entry.action_flag == DELETION
    assert entry.change_message.startswith("Freed 40.0\xa0KB")


@pytest.mark.django_db
def test_it_reports_when_there_was_nothing_to_clean(own_disk, client: Client, operator):
    client.force_login(operator)
    page = client.post("/ops/storage/clean-caches/", follow=True).content.decode()
    assert "Nothing to clean up" in page
    assert LogEntry.objects.get().user == operator


def test_a_real_worker_measures_and_cleans_its_own_disk(transactional_db, celery_worker, creator):
    # The worker shares this session's data folder, as on a one-machine installation.
    shutil.rmtree(caches.runs_root(), ignore_errors=True)
    wait_for(lambda: celery_worker.hostname in live_workers(), timeout=30)
    ended, running = make_run(creator, state=State.FAILED), make_run(creator, state=State.TRAINING)
    make_cache(ended.pk, 4 * KB)
    make_cache(running.pk, 8 * KB)
    usage = ask_workers(CACHE_USAGE, 10)
    assert usage.silent == []
    reply = usage.replies[celery_worker.hostname]
    assert reply["disk"] == caches.disk_name()
    assert reply["runs"] == {str(ended.pk): 4 * KB, str(running.pk): 8 * KB}
    census = storage_usage.cache_census()
    assert census.disks == [caches.disk_name()] and census.by_run == {ended.pk: 4 * KB, running.pk: 8 * KB}
    cleaned = ask_workers(CLEAN_CACHES, 15).replies[celery_worker.hostname]
    assert (cleaned["freed_bytes"], cleaned["cleaned"], cleaned["kept"]) == (4 * KB, [ended.pk], [running.pk])
    assert caches.folder_size(caches.runs_root() / str(running.pk)) == 8 * KB
