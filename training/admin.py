"""The operators' console for runs and workers. Every action is written to Django's admin log."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin import OperatorAccess
from training.models import Checkpoint, RunEvent, TrainingRun, WorkerHeartbeat
from training.runs import RunStateError, request_cancel, requeue_run


@admin.register(TrainingRun)
class TrainingRunAdmin(OperatorAccess, admin.ModelAdmin[TrainingRun]):
    list_display = ("name", "owner", "recipe", "base", "state", "progress", "worker", "attempts", "priority",
                    "created_at", "gpu_time")
    list_filter = ("state", "recipe", "base", "worker", "owner")
    search_fields = ("name", "owner__username", "worker")
    list_editable = ("priority",)
    # The base too: the run's checkpoints and adapters were trained on it.
    readonly_fields = ("base", "state", "state_reason", "worker", "heartbeat_at", "attempts", "step", "total_steps",
                       "loss", "error_kind", "error_message", "created_at", "queued_at", "started_at", "finished_at")
    actions = ["cancel_runs", "requeue_runs"]

    @admin.display(description="progress")
    def progress(self, run: TrainingRun) -> str:
        return f"{run.step}/{run.total_steps}"

    @admin.display(description="GPU time")
    def gpu_time(self, run: TrainingRun) -> str:
        if run.started_at is None:
            return "–"
        end = run.finished_at or timezone.now()
        return str(timedelta(seconds=int((end - run.started_at).total_seconds())))

    @admin.action(description="Cancel the selected runs (checkpoints are kept)")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        self._apply(request, queryset, "Cancelled by an operator", request_cancel)

    @admin.action(description="Requeue the selected runs (they resume from their last checkpoint)")
    def requeue_runs(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        self._apply(request, queryset, "Requeued by an operator",
                    lambda run: requeue_run(run, "Requeued by an operator; resuming from the last checkpoint."))

    def _apply(self, request: HttpRequest, queryset: QuerySet[TrainingRun], verb: str, action: object) -> None:
        done, refused = 0, []
        for run in queryset:
            try:
                action(run)  # type: ignore[operator]
            except RunStateError as error:
                refused.append(f"{run.name}: {error}")
                continue
            self.log_change(request, run, verb)
            done += 1
        if done:
            self.message_user(request, f"{verb}: {done} run(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(RunEvent)
class RunEventAdmin(OperatorAccess, admin.ModelAdmin[RunEvent]):
    list_display = ("run", "seq", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("run__name",)


@admin.register(Checkpoint)
class CheckpointAdmin(OperatorAccess, admin.ModelAdmin[Checkpoint]):
    list_display = ("run", "step", "size_bytes", "created_at")
    search_fields = ("run__name",)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(OperatorAccess, admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ("hostname", "status", "queues", "device", "last_seen", "started_at", "pid")
    readonly_fields = ("hostname", "queues", "pid", "info", "started_at", "last_seen")

    @admin.display(description="status")
    def status(self, beat: WorkerHeartbeat) -> str:
        stale = beat.last_seen < timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
        return format_html('<strong style="color:{}">{}</strong>', "#c42b3c" if stale else "#1f8a4c",
                           "silent" if stale else "alive")

    @admin.display(description="device")
    def device(self, beat: WorkerHeartbeat) -> str:
        info = beat.info or {}
        if info.get("gpu_name"):
            return f"{info['gpu_name']} ({int(info.get('gpu_memory_bytes', 0)) // 2**30} GiB)"
        return str(info.get("device", "?"))


@admin.register(LogEntry)
class OperatorLogAdmin(OperatorAccess, admin.ModelAdmin[LogEntry]):
    """The audit log: who did what to which object, from the console."""

    list_display = ("action_time", "user", "content_type", "object_repr", "change_message")
    list_filter = ("user", "content_type")
    search_fields = ("object_repr", "change_message")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
