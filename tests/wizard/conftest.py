from __future__ import annotations

import pytest

from tests.datasets.conftest import clips, own_media_root  # noqa: F401  (the wizard's tests upload the same clips)
from tests.wizard.flow import start, upload
from wizard.models import TrainingDraft


@pytest.fixture
def ready_draft(maya, clips) -> TrainingDraft:  # noqa: F811  (clips: the fixture imported above)
    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref(), "walk.txt": b"a sunny walk"})
    return draft
