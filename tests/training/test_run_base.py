"""A run trains on the base model it records: the real worker loads that base's model (the tiny LTX-2.5 one here,
built on first use like the tiny LTX-2.3 one), and the adapter it makes records that base."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open

from studio.models import Adapter
from tests.factories import make_ready_dataset, make_run, tiny_run_config
from tests.helpers import wait_for
from training.models import Checkpoint, MeasuredSpeed, TrainingRun
from training.models_config import tiny_model_dir
from training.runs import continue_run, launch_run

pytestmark = pytest.mark.timeout(240)


def _ended(run: TrainingRun) -> bool:
    run.refresh_from_db()
    return run.state in TrainingRun.FINAL_STATES


def test_a_run_on_ltx_2_5_trains_on_the_tiny_ltx_2_5_model_and_its_adapter_records_that_base(
    transactional_db, celery_worker, creator, tmp_path
):
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2)
    run = make_run(creator, dataset=dataset, base="ltx-2.5", config=tiny_run_config(steps=4, checkpoint_every=4))
    launch_run(run)
    wait_for(lambda: _ended(run), timeout=200)
    assert run.state == TrainingRun.State.SUCCEEDED, (run.state_reason, celery_worker.log_tail())

    built = tiny_model_dir("ltx-2.5")
    assert json.loads((built / "iclora_preset.json").read_text())["base"] == "ltx-2.5"
    assert json.loads((built / "transformer" / "config.json").read_text())["ff_bias"] is False
    adapter = Adapter.objects.get(run=run)
    assert adapter.base == "ltx-2.5"
    with adapter.file.open("rb"), safe_open(adapter.file.path, "numpy") as handle:
        assert handle.metadata()["base"] == "ltx-2.5"
    # This server's speeds of the tiny LTX-2.5 model are kept apart from the tiny LTX-2.3 model's.
    assert set(MeasuredSpeed.objects.values_list("model", flat=True)) >= {"tiny+ltx-2.5"}



def test_a_run_continued_from_a_checkpoint_keeps_its_base(db, creator, django_capture_on_commit_callbacks):
    run = make_run(creator, base="ltx-2.5", state=TrainingRun.State.SUCCEEDED, config=tiny_run_config(steps=4))
    checkpoint = Checkpoint.objects.create(run=run, step=4, adapter_file="users/1/runs/1/step4.safetensors")
    with django_capture_on_commit_callbacks():
        continued = continue_run(checkpoint, extra_steps=2)
    continued.refresh_from_db()
    assert (continued.base, continued.state) == ("ltx-2.5", TrainingRun.State.QUEUED)
