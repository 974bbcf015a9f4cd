from __future__ import annotations

from celery import shared_task


@shared_task(name="datasets.tasks.pair_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def pair_job(self, job_id: int) -> None:  # type: ignore[no-untyped-def]
    """Check a big pair to the end, or cut it into shots, on a `cpu` worker. Idempotent."""
    # breaks the cycle datasets.jobs -> datasets.tasks -> datasets.jobs
    from datasets.jobs import run_pair_job

    run_pair_job(job_id, worker=self.request.hostname or "unknown", task_id=self.request.id or "")


@shared_task(name="datasets.tasks.drop_stale_uploads")
def drop_stale_uploads() -> None:
    """Forget uploads in pieces that nobody has added to for a week, with their stored pieces."""
    # breaks the cycle datasets.resumable -> datasets.services -> datasets.jobs -> datasets.tasks
    from datasets.resumable import drop_stale

    drop_stale()
