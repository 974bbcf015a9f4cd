"""Shared stored files: only what no row names any more is deleted."""

import pytest

from config.files import still_referenced
from studio.models import Generation
from tests.factories import make_run
from training.models import Checkpoint

pytestmark = pytest.mark.django_db


def test_it_finds_the_names_any_model_still_uses_among_many(creator):
    Generation.objects.create(owner=creator, prompt="p", reference_file="users/1/clip.mp4")
    Checkpoint.objects.create(run=make_run(creator), step=5, adapter_file="users/1/adapter.safetensors")
    names = [f"users/1/gone_{i}.mp4" for i in range(1200)] + ["users/1/clip.mp4", "users/1/adapter.safetensors"]
    assert still_referenced(names) == {"users/1/clip.mp4", "users/1/adapter.safetensors"}
