"""Tells the creator when a run ends: an email, and a webhook when they set one up."""

from __future__ import annotations

import json
import logging
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from training.models import TrainingRun

log = logging.getLogger(__name__)


def notify_run_ended(run_id: int) -> None:
    run = TrainingRun.objects.select_related("owner").get(pk=run_id)
    if run.state not in TrainingRun.FINAL_STATES:
        return  # handed back to the queue, or still going: not the end yet
    link = settings.SITE_URL.rstrip("/") + reverse("run_detail", args=[run.pk])
    subject = {
        TrainingRun.State.SUCCEEDED: f"Your adapter “{run.name}” is ready",
        TrainingRun.State.FAILED: f"Training “{run.name}” stopped",
        TrainingRun.State.CANCELLED: f"Training “{run.name}” was cancelled",
    }[TrainingRun.State(run.state)]
    body = f"{run.state_reason}\n\nSee the run: {link}\n"
    if run.owner.email:
        try:
            send_mail(subject, body, None, [run.owner.email])
        except Exception:
            log.exception("Could not email the end of run %s", run.pk)
    if settings.RUN_WEBHOOK_URL:
        _post_webhook(settings.RUN_WEBHOOK_URL, {
            "run": run.pk, "name": run.name, "state": run.state, "reason": run.state_reason, "url": link,
            "owner": run.owner.username,
        })


def _post_webhook(url: str, payload: dict[str, object]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except Exception:
        log.warning("Run webhook %s did not answer", url, exc_info=True)
