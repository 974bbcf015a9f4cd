"""Storage used per creator and per kind of file, against each creator's storage quota.

Sizes come from what the database recorded (uploads) or from the storage API (everything else), so the
numbers are the same on local disk and on S3. Training caches are not in the storage: each worker reports
the caches on its own disk (operators.caches, operators.worker_control).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.files.storage import Storage, default_storage
from django.db.models import Sum

from accounts.models import User
from datasets.models import ClipPair, DatasetFile, UploadPiece
from operators import caches
from operators.worker_control import CACHE_USAGE, ask_workers
from prep.models import Extraction
from studio.models import Adapter, Generation
from training.models import Checkpoint, TrainingRun, ValidationSample
from training.quotas import GB, limits_of, usage_of

KINDS = {
    "uploads": "Uploads",
    "derived": "Derived references",
    "caches": "Training caches",
    "checkpoints": "Checkpoints",
    "samples": "Validation samples",
    "adapters": "Adapters",
    "generations": "Studio generations",
}
CACHE_QUESTION_TIMEOUT = 2.0


@dataclass
class CreatorUsage:
    user: User
    by_kind: dict[str, int]
    quota_bytes: int  # 0: no limit
    counted_bytes: int  # what the quota counts (training.quotas.usage_of)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    @property
    def kinds(self) -> list[int]:
        return [self.by_kind[kind] for kind in KINDS]

    @property
    def over_quota(self) -> bool:
        return bool(self.quota_bytes) and self.counted_bytes >= self.quota_bytes

    @property
    def quota_percent(self) -> int | None:
        return round(100 * self.counted_bytes / self.quota_bytes) if self.quota_bytes else None


@dataclass
class CacheCensus:
    by_run: dict[int, int] = field(default_factory=dict)
    disks: list[str] = field(default_factory=list)
    silent: list[str] = field(default_factory=list)  # live workers that did not answer
    errors: list[str] = field(default_factory=list)


@dataclass
class StorageReport:
    creators: list[CreatorUsage]
    totals: dict[str, int]
    census: CacheCensus
    orphan_cache_bytes: int  # caches of runs no longer in the database
    missing_files: int  # names the database holds that the storage cannot report (missing or unreadable)

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    @property
    def total_kinds(self) -> list[int]:
        return [self.totals[kind] for kind in KINDS]


class SizeReader:
    """Sizes of stored files by name, each asked once (on S3 every question is a request)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.seen: set[str] = set()
        self.missing = 0

    def size(self, name: str | None) -> int:
        # A name two rows share (a copied reference, say) is one file: count it once.
        if not name or name in self.seen:
            return 0
        self.seen.add(name)
        try:
            return int(self.storage.size(name))
        except _unreadable_errors():
            self.missing += 1
            return 0


def _unreadable_errors() -> tuple[type[Exception], ...]:
    # Local disk raises FileNotFoundError; S3 answers a missing (or forbidden) key with botocore's ClientError.
    try:
        # botocore is there only with the S3 extras: imported on use, a missing one leaves OSError alone
        from botocore.exceptions import ClientError
    except ImportError:
        return (OSError,)
    return (OSError, ClientError)


def cache_census() -> CacheCensus:
    """Training caches on this machine's disk and on every live worker's, each disk counted once."""
    census = CacheCensus()
    answers = ask_workers(CACHE_USAGE, CACHE_QUESTION_TIMEOUT)
    reports = [caches.measure(), *answers.replies.values()]
    census.silent = answers.silent
    for host, reply in answers.replies.items():
        if "error" in reply:
            census.errors.append(f"{host}: {reply['error']}")
    by_disk = {str(report["disk"]): report["runs"] for report in reports if "disk" in report}
    for disk, runs in sorted(by_disk.items()):
        census.disks.append(disk)
        for run_id, size in runs.items():
            census.by_run[int(run_id)] = census.by_run.get(int(run_id), 0) + int(size)
    return census


def storage_report(storage: Storage | None = None, census: CacheCensus | None = None) -> StorageReport:
    reader = SizeReader(storage or default_storage)
    census = census if census is not None else cache_census()
    sizes: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    for kind, owner_id, size in _sized_rows(reader, census):
        sizes[owner_id][kind] += size
    known = set(sizes)
    orphans = sizes.pop(-1, dict.fromkeys(KINDS, 0))["caches"]
    creators = [
        CreatorUsage(user, sizes[user.pk], limits_of(user).storage_gb * GB, usage_of(user).storage_bytes)
        for user in User.objects.filter(pk__in=known).order_by("username")
    ]
    creators.sort(key=lambda usage: -usage.total)
    totals = {kind: sum(usage.by_kind[kind] for usage in creators) for kind in KINDS}
    totals["caches"] += orphans
    return StorageReport(creators, totals, census, orphans, reader.missing)


def _sized_rows(reader: SizeReader, census: CacheCensus) -> Iterable[tuple[str, int, int]]:
    """(kind, owner id, bytes) for every stored thing; owner -1 for caches of runs that no longer exist."""
    for owner_id, total in DatasetFile.objects.values_list("dataset__owner_id").annotate(total=Sum("size")):
        yield "uploads", owner_id, int(total or 0)
    # Pieces of large uploads still under way (dropped after a week without a new piece).
    for owner_id, total in UploadPiece.objects.values_list("upload__dataset__owner_id").annotate(total=Sum("length")):
        yield "uploads", owner_id, int(total or 0)
    derived = ClipPair.objects.filter(reference_is_derived=True).exclude(reference_file="")
    for owner_id, name in derived.values_list("dataset__owner_id", "reference_file"):
        yield "derived", owner_id, reader.size(name)
    # A derived reference is an extraction's output (counted once); the rest are Studio control videos.
    for owner_id, output, source, owns_source in Extraction.objects.values_list(
        "owner_id", "output", "source", "owns_source"
    ):
        yield "derived", owner_id, reader.size(output)
        if owns_source:  # a clip uploaded only to make a control video from
            yield "uploads", owner_id, reader.size(source)
    owners = dict(TrainingRun.objects.filter(pk__in=census.by_run).values_list("pk", "owner_id"))
    for run_id, size in census.by_run.items():
        yield "caches", owners.get(run_id, -1), size
    stored = (
        # Posters and browser preview copies the checks made of uploaded clips.
        ("uploads", DatasetFile.objects.values_list("dataset__owner_id", "poster", "preview")),
        ("checkpoints", Checkpoint.objects.values_list("run__owner_id", "adapter_file", "training_file", "state_file")),
        ("samples", ValidationSample.objects.values_list("run__owner_id", "video_file", "reference_file")),
        ("adapters", Adapter.objects.values_list("owner_id", "file")),
        ("generations", Generation.objects.values_list("owner_id", "reference_file", "reference_preview_file",
                                                       "mask_file", "output_file", "baseline_file")),
    )
    for kind, rows in stored:
        for owner_id, *names in rows:
            yield kind, owner_id, sum(reader.size(name) for name in names)
