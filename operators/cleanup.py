"""The console's "Clean up caches": every disk removes the training caches of runs that have ended."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.template.defaultfilters import filesizeformat

from accounts.models import User
from operators import caches
from operators.worker_control import CLEAN_CACHES, ask_workers
from prep.services import UNUSED_AFTER_DAYS, delete_unused_extractions
from training.models import TrainingRun

# Removing a large cache takes a while; the answer is awaited longer than a measurement.
CLEAN_TIMEOUT = 15.0


@dataclass
class CleanupResult:
    freed_bytes: int = 0
    cleaned: set[int] = field(default_factory=set)
    kept: set[int] = field(default_factory=set)
    disks: int = 0
    silent: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    extractions: int = 0
    extraction_bytes: int = 0

    def summary(self) -> str:
        unused = (f" Also removed {self.extractions} unused extraction(s) older than {UNUSED_AFTER_DAYS} days "
                  f"({filesizeformat(self.extraction_bytes)}).") if self.extractions else ""
        if not self.cleaned and not self.freed_bytes:
            return "Nothing to clean up: no ended run has a training cache left on the disks that answered." + unused
        runs = ", ".join(f"#{run_id}" for run_id in sorted(self.cleaned)) or "none"
        return (f"Freed {filesizeformat(self.freed_bytes)}: training caches of {len(self.cleaned)} ended "
                f"run(s) ({runs}) on {self.disks} disk(s).{unused}")


def clean_up_caches(user: User) -> CleanupResult:
    """Clean this machine's disk and every live worker's, then record who did it in the audit log."""
    result = CleanupResult()
    reports = [caches.clean_ended_runs()]
    answers = ask_workers(CLEAN_CACHES, CLEAN_TIMEOUT)
    result.silent = answers.silent
    for host, reply in answers.replies.items():
        if "error" in reply:
            result.errors.append(f"{host}: {reply['error']}")
        else:
            reports.append(reply)
    for report in reports:
        result.freed_bytes += int(report["freed_bytes"])
        result.cleaned.update(int(run_id) for run_id in report["cleaned"])
        result.kept.update(int(run_id) for run_id in report["kept"])
    result.disks = len({str(report["disk"]) for report in reports})
    result.extractions, result.extraction_bytes = delete_unused_extractions()
    _audit(user, result)
    return result


def _audit(user: User, result: CleanupResult) -> None:
    message = result.summary()
    if result.silent:
        message += f" Not answering: {', '.join(result.silent)}."
    LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(TrainingRun),
        object_repr="Training caches of ended runs",
        action_flag=DELETION,
        change_message=message,
    )
