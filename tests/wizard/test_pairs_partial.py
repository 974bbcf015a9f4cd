"""The clips step's pair list, as htmx refreshes it while pairs are checked: what the page shows in its place, for
the same few queries whatever the number of pairs."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from datasets.models import ClipPair, DatasetFile
from prep.models import Extraction
from tests.factories import make_dataset
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
META = {"width": 1280, "height": 720, "fps": 24.0, "frames": 120, "duration": 5.0}


def _normalized(html: str) -> str:
    return re.sub(r">\s+<", "><", CSRF.sub('name="csrfmiddlewaretoken"', html)).strip()


def _draft(owner: User, pairs: int, status: str = ClipPair.Status.OK) -> TrainingDraft:
    """A depth dataset whose references the server made: each pair with its clip, its extraction and a caption."""
    dataset = make_dataset(owner, recipe="depth")
    draft = TrainingDraft.objects.create(owner=owner, dataset=dataset, name="Depth walks")
    for i in range(pairs):
        clip = DatasetFile.objects.create(dataset=dataset, name=f"walk{i}.mp4", file=f"d/walk{i}.mp4",
                                          kind=DatasetFile.Kind.VIDEO, sha256=f"{i:064d}", poster=f"d/walk{i}.jpg")
        depth = Extraction.objects.create(owner=owner, method=Extraction.Method.DEPTH, settings_key=f"k{i}",
                                          source=clip.file.name, source_name=clip.name, source_sha256="0" * 64,
                                          state=Extraction.State.DONE, output=f"d/depth{i}.mp4",
                                          report={"frames": 120})
        ClipPair.objects.create(dataset=dataset, name=f"walk{i}", position=i, target_file=clip.file.name,
                                reference_file=depth.output.name, reference_is_derived=True, derive_method="depth",
                                extraction=depth, target_source=clip, status=status, target_meta=META,
                                reference_meta=META, caption=f"a walk in the park, take {i}")
    return draft


def _pairs(client: Client, draft: TrainingDraft) -> str:
    return client.get(f"/wizard/{draft.pk}/clips/pairs/", HTTP_HX_REQUEST="true").content.decode()


def test_the_pair_list_is_what_the_clips_page_shows_in_its_place(maya: Client, creator: User):
    draft = _draft(creator, 3)
    page = _normalized(maya.get(f"/wizard/{draft.pk}/clips/").content.decode())
    part = _normalized(_pairs(maya, draft))
    assert part.startswith('<section id="pairs"') and part in page
    for pair in draft.dataset.pairs.all():
        assert pair.caption in part and f'src="/prep/extractions/{pair.extraction_id}/video/"' in part
    assert "every 2s" not in part  # nothing is being checked: no polling


def test_the_pair_list_polls_while_pairs_are_checked(maya: Client, creator: User):
    part = _pairs(maya, _draft(creator, 2, status=ClipPair.Status.CHECKING))
    assert 'hx-trigger="every 2s"' in part and "Checking…" in part


def test_the_pair_list_takes_the_same_queries_whatever_the_number_of_pairs(
    maya: Client, creator: User, django_assert_max_num_queries
):
    counts = []
    for pairs in (2, 12):
        draft = _draft(creator, pairs)
        _pairs(maya, draft)
        with django_assert_max_num_queries(6) as queries:  # session, creator, draft, the pairs twice, the files
            _pairs(maya, draft)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def _fold(part: str) -> str:
    """The opening tag of the folding pair list."""
    found = re.search(r'<details class="pair-fold"[^>]*>', part)
    assert found is not None, part
    return found.group(0)


def test_a_long_list_that_needs_nothing_folds_under_a_summary(maya: Client, creator: User):
    part = _pairs(maya, _draft(creator, 27))
    summary = _normalized(part.split('<summary class="summary">')[1].split("</summary>")[0])

    assert " open" not in _fold(part) and part.count('<article class="pair') == 27
    assert "All 27 checked:" in summary and "27 ready" in summary and "need" not in summary
    assert "Show each pair" in summary


def test_the_list_is_open_while_pairs_are_checked(maya: Client, creator: User):
    part = _pairs(maya, _draft(creator, 27, status=ClipPair.Status.CHECKING))
    assert _fold(part).endswith(" open>") and "Checking…" in part


def test_the_list_is_open_when_a_pair_needs_attention_and_says_how_many(maya: Client, creator: User):
    draft = _draft(creator, 27)
    draft.dataset.pairs.filter(name__in=["walk3", "walk4", "walk5"]).update(
        status=ClipPair.Status.ERROR, messages=[{"level": "error", "code": "length_mismatch", "text": "Too short."}])

    part = _pairs(maya, draft)

    assert _fold(part).endswith(" open>")
    assert "24 ready" in part and "3 need attention" in part


def test_the_list_is_open_when_a_pair_still_needs_its_caption(maya: Client, creator: User):
    draft = _draft(creator, 27)
    draft.dataset.pairs.filter(name="walk7").update(caption="")

    part = _pairs(maya, draft)

    assert _fold(part).endswith(" open>") and "1 without a caption" in part
