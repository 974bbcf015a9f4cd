from __future__ import annotations

from celery import shared_task


@shared_task(name="prep.tasks.extract", bind=True, acks_late=True, reject_on_worker_lost=True)
def extract(self, extraction_id: int) -> None:  # type: ignore[no-untyped-def]
    """Make one extraction (routed to `cpu`; captions to CAPTION_QUEUE). Finished ones are skipped."""
    # breaks the cycle prep.services -> prep.tasks -> prep.services
    from prep.services import run_extraction

    run_extraction(extraction_id, worker=self.request.hostname or "unknown", task_id=self.request.id or "")
