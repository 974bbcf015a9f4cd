"""Shared stored files: only what no row names any more is deleted."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from config.delivery import stored_poster
from config.files import delete_unreferenced_on_commit, poster_name, still_referenced
from engine.media import write_poster
from engine.synthetic import make_clip
from studio.models import Generation
from tests.factories import make_run
from training.models import Checkpoint

pytestmark = pytest.mark.django_db


def test_it_finds_the_names_any_model_still_uses_among_many(creator):
    Generation.objects.create(owner=creator, prompt="p", reference_file="users/1/clip.mp4")
    Checkpoint.objects.create(run=make_run(creator), step=5, adapter_file="users/1/adapter.safetensors")
    names = [f"users/1/gone_{i}.mp4" for i in range(1200)] + ["users/1/clip.mp4", "users/1/adapter.safetensors"]
    assert still_referenced(names) == {"users/1/clip.mp4", "users/1/adapter.safetensors"}


def test_a_videos_poster_is_made_once_beside_it_and_deleted_with_it(
    creator, tmp_path, django_capture_on_commit_callbacks
):
    generation = Generation.objects.create(owner=creator, prompt="p", reference_file="users/1/clip.mp4")
    generation.output_file.save("out.mp4", ContentFile(make_clip(tmp_path / "out.mp4", 1, 96, 64).read_bytes()))
    poster = stored_poster(generation.output_file, write_poster)
    assert poster is not None and poster.name == poster_name(generation.output_file.name)
    assert poster.name.endswith("out.mp4.poster.jpg") and default_storage.open(poster.name).read(3) == b"\xff\xd8\xff"
    made = default_storage.get_modified_time(poster.name)
    assert stored_poster(generation.output_file, lambda video, out: 1 / 0) == poster  # kept: never made twice
    assert default_storage.get_modified_time(poster.name) == made
    assert generation.output_file.name.endswith("out.mp4")  # the video's field is left as it was

    with django_capture_on_commit_callbacks(execute=True):
        name = generation.output_file.name
        generation.delete()
        delete_unreferenced_on_commit([name])
    assert not default_storage.exists(name) and not default_storage.exists(poster.name)


def test_a_file_with_no_picture_gets_no_poster(creator):
    generation = Generation.objects.create(owner=creator, prompt="p", reference_file="users/1/clip.mp4")
    generation.output_file.save("broken.mp4", ContentFile(b"not a video"))
    assert stored_poster(generation.output_file, write_poster) is None
    assert stored_poster(generation.baseline_file, write_poster) is None  # no video at all
