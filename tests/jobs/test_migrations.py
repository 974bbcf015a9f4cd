"""The job-lifecycle migrations keep what existing rows hold."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("prep", "0001_initial"), ("studio", "0003_generation_cancel"), ("training", "0002_checkpoint_training_file")]
AFTER = [("prep", "0002_extraction_job_lifecycle"), ("studio", "0004_generation_job_lifecycle"),
         ("training", "0003_trainingrun_job_lifecycle")]


def _migrate(targets: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_runs_generations_and_extractions_keep_their_state_and_messages():
    old = _migrate(BEFORE)
    owner = old.get_model("accounts", "User").objects.create(username="maya")
    extraction = old.get_model("prep", "Extraction").objects.create(
        owner=owner, method="canny", settings_key="k", source="users/1/walk.mp4", source_name="walk.mp4",
        source_sha256="0" * 64, state="failed", error="The clip “walk.mp4” has no frames.", worker="cpu@box")
    generation = old.get_model("studio", "Generation").objects.create(
        owner=owner, prompt="a street", reference_file="users/1/ref.mp4", state="running", worker="gpu@box",
        error_message="", cancel_requested=True)
    run = old.get_model("training", "TrainingRun").objects.create(
        owner=owner, name="Walks", recipe="canny", state="training", attempts=2, worker="gpu@box",
        state_reason="Training.")
    try:
        new = _migrate(AFTER)
        moved = new.get_model("prep", "Extraction").objects.get(pk=extraction.pk)
        assert (moved.state, moved.error_message, moved.worker) == ("failed", "The clip “walk.mp4” has no frames.",
                                                                    "cpu@box")
        assert (moved.losses, moved.lease, moved.attempts) == (0, 0, 0)
        kept = new.get_model("studio", "Generation").objects.get(pk=generation.pk)
        assert (kept.state, kept.worker, kept.cancel_requested) == ("running", "gpu@box", True)
        training = new.get_model("training", "TrainingRun").objects.get(pk=run.pk)
        assert (training.state, training.attempts, training.state_reason) == ("training", 2, "Training.")
    finally:
        _migrate([(app, name) for app, name in _latest()])


def _latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    # Every app: going back also unapplied the migrations of apps that depend on these (datasets on prep).
    return executor.loader.graph.leaf_nodes()
