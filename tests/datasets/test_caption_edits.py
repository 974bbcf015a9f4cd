"""Changing every caption at once: find and replace, add words, undo; only on the creator's own dataset."""

from __future__ import annotations

import pytest
from django.test import Client

from datasets import caption_edits
from datasets.caption_edits import CaptionEditRefused
from datasets.models import ClipPair
from tests.factories import make_dataset
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db

CAPTIONS = {
    "beach": "A depth map of a woman walking on a beach at sunset",
    "city": "a DEPTH MAP OF a busy street , cars passing",
    "empty": "",
}


@pytest.fixture
def draft(creator) -> TrainingDraft:
    dataset = make_dataset(creator)
    for position, (name, caption) in enumerate(CAPTIONS.items()):
        ClipPair.objects.create(dataset=dataset, name=name, position=position, caption=caption,
                                caption_auto=bool(caption))
    return TrainingDraft.objects.create(owner=creator, dataset=dataset, name="draft")


def captions(draft: TrainingDraft) -> dict[str, str]:
    return dict(draft.dataset.pairs.values_list("name", "caption"))


def test_find_and_replace_matches_any_case_and_tidies_the_spaces_left(draft):
    change = caption_edits.replace_words(draft.dataset, "depth map of", "")

    assert change.changed == 2
    assert captions(draft) == {"beach": "A a woman walking on a beach at sunset",
                               "city": "a a busy street, cars passing", "empty": ""}
    assert not draft.dataset.pairs.filter(name="beach", caption_auto=True).exists()  # edited: typed now
    assert draft.dataset.pairs.get(name="beach").caption_typed


def test_words_are_added_once_at_the_end_or_the_start_and_empty_captions_left_to_write(draft):
    end = caption_edits.add_words(draft.dataset, "shot on 35mm film", at_start=False)
    start = caption_edits.add_words(draft.dataset, "Cinematic:", at_start=True)

    assert (end.changed, start.changed) == (2, 2)
    assert captions(draft)["beach"] == ("Cinematic: A depth map of a woman walking on a beach at sunset, "
                                        "shot on 35mm film")
    assert captions(draft)["empty"] == ""
    with pytest.raises(CaptionEditRefused, match="already has these words"):
        caption_edits.add_words(draft.dataset, "shot on 35mm film", at_start=False)


def test_a_change_that_matches_nothing_or_says_nothing_is_refused_plainly(draft):
    with pytest.raises(CaptionEditRefused, match=r"No caption contains “giraffe”\."):
        caption_edits.replace_words(draft.dataset, "giraffe", "zebra")
    with pytest.raises(CaptionEditRefused, match=r"Type the words to find\."):
        caption_edits.replace_words(draft.dataset, "  ", "x")
    assert captions(draft) == CAPTIONS


def test_a_change_that_would_make_a_caption_too_long_changes_nothing(draft):
    with pytest.raises(CaptionEditRefused, match="“beach” would be longer than 2000 characters"):
        caption_edits.replace_words(draft.dataset, "beach", "sand " * 500)
    assert captions(draft) == CAPTIONS


def test_the_page_changes_every_caption_and_undo_puts_them_back(client: Client, creator, draft):
    client.force_login(creator)
    url = f"/wizard/{draft.pk}/captions/all/"

    replaced = client.post(url, {"action": "replace", "find": "depth map of ", "replace": ""}, follow=True)
    page = replaced.content.decode()
    assert "2 captions changed." in page and "Undo the last change" in page
    assert captions(draft)["beach"] == "A a woman walking on a beach at sunset"

    undone = client.post(url, {"action": "undo"}, follow=True).content.decode()
    assert "2 captions put back as they were." in undone and captions(draft) == CAPTIONS
    assert "There is no change to undo." in client.post(url, {"action": "undo"}, follow=True).content.decode()


def test_another_creator_cannot_change_the_captions(client: Client, other_creator, draft):
    client.force_login(other_creator)

    response = client.post(f"/wizard/{draft.pk}/captions/all/", {"action": "replace", "find": "beach", "replace": "x"})

    assert response.status_code == 404 and captions(draft) == CAPTIONS
