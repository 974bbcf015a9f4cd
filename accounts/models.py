from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A creator. Staff users are operators (they see the admin console and every run)."""

    email = models.EmailField("email address", unique=True)
    # Quotas; empty means the installation's default (QUOTA_* settings), 0 means no limit.
    max_concurrent_runs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Trainings this creator may have queued or running at once."
    )
    gpu_hours_per_month = models.PositiveIntegerField(
        null=True, blank=True, help_text="Hours of training a month (runs started this calendar month)."
    )
    storage_quota_gb = models.PositiveIntegerField(
        null=True, blank=True, help_text="Room for uploads and checkpoints, in GB."
    )

    @property
    def is_operator(self) -> bool:
        return self.is_staff


class FailedSignIn(models.Model):
    """One wrong password, kept for the sign-in throttle's window (accounts/throttle.py)."""

    username = models.CharField(max_length=150, db_index=True, help_text="As typed, lower-cased.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["ip", "created_at"])]

    def __str__(self) -> str:
        return f"wrong password for {self.username} from {self.ip or 'an unknown address'}"
