"""Uploads that survive a lost connection: a large file arrives in pieces, each stored as it comes.

The browser starts (or finds again) a `PartialUpload` for a file, sends pieces in order with the offset each
begins at, and on any failure asks how much has arrived and goes on from there. Pieces live in the storage (local
disk or the bucket), so any web process can take the next one. When the last piece arrives the file is put
together in a scratch file on disk, never in memory, and stored like any other upload: checked by content, all
or nothing.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any
from uuid import UUID

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from config.files import delete_unreferenced_on_commit
from datasets.limits import Limits
from datasets.models import Dataset, PartialUpload, UploadPiece
from datasets.services import (
    Incoming,
    UploadOutcome,
    UploadRefused,
    clean_name,
    name_problem,
    schedule_checks,
    store_incoming,
)
from datasets.zipsafe import UnsafeArchive

KEEP_FOR = timedelta(days=7)  # an upload nobody has added to (or asked about) for this long is dropped
FINISH_STALE = timedelta(minutes=15)  # a whole file still unanswered after this was left by a request that died
COPY_BUFFER = 1024 * 1024


class OffsetMismatch(ValueError):
    """The piece does not start where the stored bytes end; `received` says where the browser should go on."""

    def __init__(self, received: int) -> None:
        super().__init__(f"This piece should start at byte {received}.")
        self.received = received


def start(dataset: Dataset, name: str, size: int, fingerprint: str, limits: Limits) -> PartialUpload:
    """The upload of this file into `dataset`: the one already under way for the same name, size and
    fingerprint (so a re-dropped file goes on), else a new one. Raises UploadRefused for a file that could
    never be kept."""
    name = clean_name(name)
    if problem := name_problem(name):
        raise UploadRefused([problem])
    if size <= 0:
        raise UploadRefused([f"{name} is empty."])
    if size > limits.max_file_bytes:
        raise UploadRefused([f"{name} is {size / 1024**2:.0f} MB; the limit is "
                             f"{limits.max_file_bytes // 1024**2} MB per file."])
    kept = sum(dataset.files.exclude(name=name).values_list("size", flat=True))
    if kept + size > limits.max_dataset_bytes:
        raise UploadRefused([f"The dataset would hold {(kept + size) / 1024**3:.1f} GB; the limit is "
                             f"{limits.max_dataset_bytes / 1024**3:.0f} GB per dataset."])
    fingerprint = fingerprint[:100]
    # A file stored (or refused) before and dropped again is a new upload, not the answer to the old one.
    for finished in PartialUpload.objects.filter(dataset=dataset, name=name, size=size, fingerprint=fingerprint,
                                                 outcome__isnull=False):
        drop(finished)
    upload, _ = PartialUpload.objects.get_or_create(dataset=dataset, name=name, size=size, fingerprint=fingerprint)
    return upload


def append(upload: PartialUpload, offset: int, stream: IO[bytes], length: int) -> PartialUpload:
    """Store `length` bytes from `stream` as the piece starting at `offset`.

    Raises OffsetMismatch when `offset` is not where the stored bytes end (a piece sent twice, or one lost), and
    UploadRefused for a piece that runs past the file's declared size."""
    if offset != upload.received:
        raise OffsetMismatch(upload.received)
    if length <= 0 or offset + length > upload.size:
        raise UploadRefused([f"This piece of {upload.name} runs past the file's {upload.size} bytes."])
    piece = UploadPiece(upload=upload, offset=offset, length=length)
    piece.file.save(f"{offset:015d}", File(stream), save=False)
    with transaction.atomic():
        # Conditional on `received`: of two requests carrying the same piece, only one moves the upload on.
        moved = PartialUpload.objects.filter(pk=upload.pk, received=offset).update(
            received=offset + length, updated_at=timezone.now())
        if moved:
            piece.save()
    if not moved:
        piece.file.storage.delete(piece.file.name)
        try:
            upload.refresh_from_db()
        except PartialUpload.DoesNotExist:  # the creator discarded it from the clips page meanwhile
            raise UploadRefused([f"The upload of {upload.name} was discarded. Drop the file again to upload it "
                                 "anew."]) from None
        raise OffsetMismatch(upload.received)
    upload.received = offset + length
    return upload


def finish(upload: PartialUpload, limits: Limits) -> dict[str, Any]:
    """Put the whole file together and store it like a direct upload, then check it; the pieces go either way.

    Returns the answer for the browser (`ok`, and `problems` or what was added), which the upload keeps for a
    browser that lost it: assembling a large file can outlast a proxy's timeout."""
    if upload.received != upload.size:
        raise UploadRefused([f"{upload.name} is not complete: {upload.received} of {upload.size} bytes arrived."])
    try:
        outcome = _store_whole(upload, limits)
    except (UploadRefused, UnsafeArchive) as refused:
        answer: dict[str, Any] = {"ok": False, "done": True, "problems": _problems(refused)}
    else:
        schedule_checks(upload.dataset, limits)
        answer = {"ok": True, "done": True, "added": outcome.added, "replaced": outcome.replaced,
                  "ignored": outcome.ignored}
    with transaction.atomic():
        names = list(upload.pieces.values_list("file", flat=True))
        upload.pieces.all().delete()
        upload.outcome = answer
        upload.save(update_fields=["outcome", "updated_at"])
        delete_unreferenced_on_commit(names)
    return answer


def _store_whole(upload: PartialUpload, limits: Limits) -> UploadOutcome:
    with tempfile.TemporaryFile() as whole:
        for piece in upload.pieces.order_by("offset"):
            with piece.file.open("rb") as part:
                shutil.copyfileobj(part, whole, COPY_BUFFER)
        whole.seek(0)
        return store_incoming(upload.dataset, [Incoming(upload.name, whole, upload.size)], limits)


def _problems(refused: UploadRefused | UnsafeArchive) -> list[str]:
    return refused.problems if isinstance(refused, UploadRefused) else [str(refused)]


def claim_stale_finish(upload: PartialUpload, now: datetime | None = None) -> bool:
    """Whether this request should put `upload` together again: every byte arrived, there is no answer, and the
    request that received the last piece has been silent for FINISH_STALE (its process died, say). The claim is
    a conditional update, so of two requests asking at once only one finishes."""
    now = now or timezone.now()
    if upload.outcome is not None or upload.received != upload.size:
        return False
    return bool(PartialUpload.objects.filter(pk=upload.pk, outcome__isnull=True,
                                             updated_at__lt=now - FINISH_STALE).update(updated_at=now))


def drop(upload: PartialUpload) -> None:
    """Forget an upload and, once that commits, delete its stored pieces."""
    with transaction.atomic():
        names = list(upload.pieces.values_list("file", flat=True))
        upload.delete()
        delete_unreferenced_on_commit(names)


def drop_stale(now: datetime | None = None) -> int:
    """Drop uploads nobody has added to for KEEP_FOR; returns how many."""
    cutoff = (now or timezone.now()) - KEEP_FOR
    stale = list(PartialUpload.objects.filter(updated_at__lt=cutoff))
    for upload in stale:
        drop(upload)
    return len(stale)


@dataclass(frozen=True)
class Unfinished:
    """An upload the creator left part-way (a reload, a closed tab), as the clips page lists it."""

    key: UUID
    name: str
    received: int
    size: int

    @property
    def arrived(self) -> str:
        """How much arrived, e.g. "42 MB of 120 MB"."""
        return arrived_text(self.received, self.size)


def unfinished(dataset: Dataset) -> list[Unfinished]:
    """The uploads into `dataset` that still wait for pieces (or for being put together), the oldest first."""
    uploads = dataset.partial_uploads.filter(outcome__isnull=True).order_by("created_at", "pk")
    return [Unfinished(u.key, u.name, u.received, u.size) for u in uploads]


def arrived_text(received: int, size: int) -> str:
    """`received` of `size` bytes in the unit that suits the whole file: "42 MB of 120 MB", "0.5 GB of 1.2 GB"."""
    unit, scale = next(((unit, scale) for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024))
                        if size >= scale), ("bytes", 1))

    def shown(count: int, rounding: Callable[[float], int]) -> str:
        value = count / scale
        if value >= 10 or scale == 1:
            return str(int(rounding(value)))
        return f"{rounding(value * 10) / 10:.1f}".removesuffix(".0")

    # What arrived is rounded down: a file is never said to be all there before its last byte is.
    return f"{shown(received, math.floor)} {unit} of {shown(size, round)} {unit}"


def discard(upload: PartialUpload, now: datetime | None = None) -> bool:
    """Forget an unfinished upload the creator gave up on and, once that commits, delete its pieces. False, with
    nothing changed, when it is not unfinished any more (stored or refused) or every byte is in and a request may
    be putting the file together right now (that file is about to be stored whole, not half)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = PartialUpload.objects.select_for_update().filter(pk=upload.pk, outcome__isnull=True).first()
        if locked is None:
            return False
        if locked.received >= locked.size and locked.updated_at >= now - FINISH_STALE:
            return False
        names = list(locked.pieces.values_list("file", flat=True))
        locked.delete()
        delete_unreferenced_on_commit(names)
    return True
