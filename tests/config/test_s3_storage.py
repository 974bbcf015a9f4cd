"""S3 storage against a real S3-compatible server on loopback (moto in server mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile

from tests.s3 import bucket_keys, s3_env


def test_the_default_storage_saves_opens_signs_and_deletes_in_the_bucket(s3_storage: str):
    from django.core.files.storage import default_storage

    name = default_storage.save("users/1/notes.txt", ContentFile(b"hello bucket"))
    assert name in bucket_keys(s3_storage)
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == b"hello bucket"
    assert "X-Amz-Signature=" in default_storage.url(name)
    default_storage.delete(name)
    assert name not in bucket_keys(s3_storage)


def test_a_settings_bucket_switches_the_default_storage_to_s3(s3_endpoint: str):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.core.files.storage import "
         "default_storage; print(type(default_storage._setup() or default_storage._wrapped).__name__)"],
        env={**os.environ, **s3_env(s3_endpoint)}, capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "S3Storage"


def test_a_worker_on_another_machine_trains_from_the_bucket_and_writes_its_outputs_there(
    transactional_db, s3_storage: str, creator, tmp_path: Path, logs_dir: Path
):
    from studio.models import Adapter
    from tests.factories import make_ready_dataset, make_run, tiny_run_config
    from tests.helpers import wait_for
    from tests.services import Worker
    from training.models import TrainingRun
    from training.runs import State, transition
    from training.tasks import train_run

    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2)
    assert all(key.startswith("users/") for key in bucket_keys(s3_storage))
    run = make_run(creator, dataset=dataset, config=tiny_run_config(steps=6, checkpoint_every=3))
    # The remote worker shares only the broker, the database and the bucket: its own empty media folder.
    remote = Worker("remote-gpu@elsewhere", logs_dir / "remote-worker.log", queues="gpu-remote",
                    env={**s3_env(s3_storage), "MEDIA_ROOT": str(tmp_path / "remote-media")})
    remote.start()
    try:
        transition(run, State.QUEUED, "Waiting for a GPU worker.")
        train_run.apply_async(args=[run.pk], queue="gpu-remote")
        wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, state__in=TrainingRun.FINAL_STATES).exists())
    finally:
        remote.stop()
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, (run.state_reason, remote.log_tail())
    keys = bucket_keys(s3_storage)
    adapter = Adapter.objects.get(run=run)
    assert adapter.file.name in keys
    for checkpoint in run.checkpoints.all():
        assert {checkpoint.adapter_file.name, checkpoint.training_file.name, checkpoint.state_file.name} <= set(keys)
    assert not any((tmp_path / "remote-media").rglob("*.safetensors"))


@pytest.mark.django_db
def test_a_dataset_downloads_as_a_zip_straight_from_the_bucket(s3_storage: str, creator, tmp_path: Path):
    import io
    import zipfile

    from django.test import Client

    from tests.factories import make_ready_dataset

    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2, name="From the bucket")
    pair = dataset.pairs.order_by("pk")[0]
    assert pair.target_file.name in bucket_keys(s3_storage)
    client = Client()
    client.force_login(creator)
    response: Any = client.get(f"/wizard/datasets/{dataset.pk}/download/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    with pair.target_file.open("rb") as stored:
        assert archive.read(f"From-the-bucket/targets/{pair.name}.mp4") == stored.read()
    assert len([name for name in archive.namelist() if name.endswith(".mp4")]) == 4
