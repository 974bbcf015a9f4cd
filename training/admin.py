from django.contrib import admin

from training.models import Checkpoint, RunEvent, TrainingRun, WorkerHeartbeat


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin[TrainingRun]):
    list_display = ("name", "owner", "recipe", "state", "step", "total_steps", "worker", "created_at")
    list_filter = ("state", "recipe")
    search_fields = ("name", "owner__username", "worker")


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin[RunEvent]):
    list_display = ("run", "seq", "kind", "created_at")
    list_filter = ("kind",)


admin.site.register(Checkpoint)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ("hostname", "queues", "last_seen", "started_at", "pid")
