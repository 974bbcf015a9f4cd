"""Moving the dataset models from the wizard app to the datasets app keeps every row and every link to them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("wizard", "0008_job_worker_pid"), ("training", "0004_job_worker_pid"), ("datasets", None)]
AFTER = [("datasets", "0002_own_tables"), ("wizard", "0009_dataset_models_moved"), ("training", "0005_dataset_moved")]
MOVED = ["dataset", "datasetfile", "clippair", "pairjob", "partialupload", "uploadpiece"]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    # Every app: going back also unapplied the migrations of apps that depend on these (datasets on prep).
    return executor.loader.graph.leaf_nodes()


def _rows_as_the_wizard_kept_them(old):
    owner = old.get_model("accounts", "User").objects.create(username="maya")
    dataset = old.get_model("wizard", "Dataset").objects.create(owner=owner, name="Walks", recipe="canny",
                                                                derive_settings={"canny": {"low": 50}})
    file = old.get_model("wizard", "DatasetFile").objects.create(
        dataset=dataset, name="targets/walk.mp4", file="users/1/datasets/1/files/ab_walk.mp4", kind="video",
        size=1234, sha256="a" * 64)
    pair = old.get_model("wizard", "ClipPair").objects.create(
        dataset=dataset, name="walk", target_file="users/1/datasets/1/walk.mp4", target_source=file,
        caption="a walk in the park", status="warning", messages=[{"level": "warning", "code": "c", "text": "t"}])
    job = old.get_model("wizard", "PairJob").objects.create(dataset=dataset, pair=pair, pair_name="walk",
                                                            action="check", state="running", worker="cpu@box")
    upload = old.get_model("wizard", "PartialUpload").objects.create(dataset=dataset, name="targets/long.mp4",
                                                                     size=10, received=4)
    piece = old.get_model("wizard", "UploadPiece").objects.create(upload=upload, offset=0, length=4,
                                                                  file="users/1/partial/x/000")
    draft = old.get_model("wizard", "TrainingDraft").objects.create(owner=owner, dataset=dataset, name="Walks")
    run = old.get_model("training", "TrainingRun").objects.create(owner=owner, dataset=dataset, name="Walks",
                                                                  recipe="canny")
    content_types = old.get_model("contenttypes", "ContentType").objects
    content_types.filter(app_label="datasets").delete()  # as on a server that never had the datasets app
    wizard_dataset = content_types.get_or_create(app_label="wizard", model="dataset")[0]
    return {"dataset": dataset.pk, "file": file.pk, "pair": pair.pk, "job": job.pk, "upload": upload.pk,
            "piece": piece.pk, "draft": draft.pk, "run": run.pk, "content_type": wizard_dataset.pk}


@pytest.mark.django_db(transaction=True)
def test_datasets_pairs_files_jobs_and_uploads_move_with_their_links_to_drafts_and_runs():
    before = _rows_as_the_wizard_kept_them(_migrate(BEFORE))
    try:
        new = _migrate(AFTER)
        dataset = new.get_model("datasets", "Dataset").objects.get(pk=before["dataset"])
        assert (dataset.name, dataset.recipe, dataset.derive_settings) == ("Walks", "canny", {"canny": {"low": 50}})
        pair = new.get_model("datasets", "ClipPair").objects.get(pk=before["pair"])
        assert (pair.dataset_id, pair.target_source_id, pair.caption, pair.status) == (
            before["dataset"], before["file"], "a walk in the park", "warning")
        file = new.get_model("datasets", "DatasetFile").objects.get(pk=before["file"])
        assert (file.name, file.file.name, file.size) == ("targets/walk.mp4", "users/1/datasets/1/files/ab_walk.mp4",
                                                          1234)
        job = new.get_model("datasets", "PairJob").objects.get(pk=before["job"])
        assert (job.pair_id, job.state, job.worker) == (before["pair"], "running", "cpu@box")
        piece = new.get_model("datasets", "UploadPiece").objects.get(pk=before["piece"])
        assert (piece.upload_id, piece.upload.received, piece.upload.dataset_id) == (
            before["upload"], 4, before["dataset"])
        assert new.get_model("wizard", "TrainingDraft").objects.get(pk=before["draft"]).dataset_id == before["dataset"]
        assert new.get_model("training", "TrainingRun").objects.get(pk=before["run"]).dataset_id == before["dataset"]

        tables = set(connection.introspection.table_names())
        assert {f"datasets_{m}" for m in MOVED} <= tables
        assert not {f"wizard_{m}" for m in MOVED} & tables
        content_type = new.get_model("contenttypes", "ContentType").objects.get(pk=before["content_type"])
        assert (content_type.app_label, content_type.model) == ("datasets", "dataset")
    finally:
        _migrate(_latest())


@pytest.mark.django_db(transaction=True)
def test_the_move_can_be_undone_without_losing_rows():
    before = _rows_as_the_wizard_kept_them(_migrate(BEFORE))
    try:
        _migrate(AFTER)
        old = _migrate(BEFORE)
        assert old.get_model("wizard", "ClipPair").objects.get(pk=before["pair"]).dataset_id == before["dataset"]
        assert old.get_model("wizard", "TrainingDraft").objects.get(pk=before["draft"]).dataset_id == before["dataset"]
        tables = set(connection.introspection.table_names())
        assert {f"wizard_{m}" for m in MOVED} <= tables
        assert not {f"datasets_{m}" for m in MOVED} & tables
    finally:
        _migrate(_latest())
