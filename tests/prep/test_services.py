"""Extractions kept or removed: only ended, old ones that no pair, caption or generation uses are deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from datasets.models import ClipPair
from prep.models import Extraction
from prep.services import delete_unused_extractions
from studio.models import Adapter, Generation
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def extraction(owner, name: str, *, days_old: int = 30, state: str = "done", owns_source: bool = False) -> Extraction:
    made = Extraction(owner=owner, method="canny", settings_key=name, source_name=f"{name}.mp4",
                      source_sha256=name, state=state, owns_source=owns_source)
    made.source.save(f"{name}.mp4", ContentFile(b"clip bytes"), save=False)
    made.output.save(f"{name}_canny.mp4", ContentFile(b"edge bytes!"), save=False)
    made.save()
    Extraction.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(days=days_old))
    return made


def test_it_deletes_only_old_ended_extractions_that_nothing_uses(creator):
    dataset = make_dataset(creator, recipe="canny")
    as_reference = extraction(creator, "reference")
    ClipPair.objects.create(dataset=dataset, name="a", extraction=as_reference)
    as_caption = extraction(creator, "caption")
    ClipPair.objects.create(dataset=dataset, name="b", caption_extraction=as_caption)
    in_studio = extraction(creator, "studio", owns_source=True)
    adapter = Adapter.objects.create(owner=creator, name="x", source="uploaded", file="x.safetensors")
    Generation.objects.create(owner=creator, adapter=adapter, prompt="p", reference_file=in_studio.output.name)
    recent = extraction(creator, "recent", days_old=1)
    running = extraction(creator, "running", state="running")
    unused = extraction(creator, "unused", owns_source=True)
    of_a_dataset_clip = extraction(creator, "shared")  # its source is a dataset's clip, not its own upload
    storage = unused.output.storage

    count, freed = delete_unused_extractions()

    assert (count, freed) == (2, 2 * len(b"edge bytes!") + len(b"clip bytes"))
    assert not storage.exists(unused.output.name) and not storage.exists(unused.source.name)
    assert not storage.exists(of_a_dataset_clip.output.name)
    assert storage.exists(of_a_dataset_clip.source.name), "a dataset's clip is never deleted with its extraction"
    kept = {as_reference.pk, as_caption.pk, in_studio.pk, recent.pk, running.pk}
    assert set(Extraction.objects.values_list("pk", flat=True)) == kept
