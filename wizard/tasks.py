from __future__ import annotations

from celery import shared_task


@shared_task(name="wizard.tasks.check_pair_task", acks_late=True)
def check_pair_task(pair_id: int) -> None:
    """Decode a big pair to the end on a `cpu` worker and store what was found."""
    from wizard.models import ClipPair
    from wizard.services import run_checks

    pair = ClipPair.objects.select_related("dataset").filter(pk=pair_id).first()
    if pair is not None:
        run_checks(pair)


@shared_task(name="wizard.tasks.drop_stale_uploads")
def drop_stale_uploads() -> None:
    """Forget uploads in pieces that nobody has added to for a week, with their stored pieces."""
    from wizard.resumable import drop_stale

    drop_stale()


@shared_task(name="wizard.tasks.split_pair_task", acks_late=True)
def split_pair_task(pair_id: int) -> None:
    """Cut a pair into one pair per shot on a `cpu` worker (re-encoding long clips takes a while)."""
    from wizard.limits import current
    from wizard.splitting import run_split

    run_split(pair_id, current())
