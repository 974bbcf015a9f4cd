from __future__ import annotations

from celery import shared_task


@shared_task(name="studio.tasks.generate", bind=True, acks_late=True, reject_on_worker_lost=True)
def generate(self, generation_id: int) -> None:  # type: ignore[no-untyped-def]
    """Make one generation on a `gpu` worker (routed in settings). Idempotent: finished ones are skipped."""
    # breaks the cycle studio.generation -> studio.tasks -> studio.generation
    from studio.generation import run_generation

    run_generation(generation_id, worker=self.request.hostname or "unknown", task_id=self.request.id or "")
