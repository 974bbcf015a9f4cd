from __future__ import annotations

from celery import shared_task


@shared_task(name="training.tasks.train_run", bind=True, acks_late=True, reject_on_worker_lost=True)
def train_run(self, run_id: int) -> None:  # type: ignore[no-untyped-def]
    # breaks the cycle training.runner -> training.runs -> training.tasks -> training.runner
    from training.runner import execute

    execute(run_id, worker=self.request.hostname or "unknown", task_id=self.request.id or "")
