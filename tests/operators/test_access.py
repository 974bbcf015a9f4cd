"""Only operators get into the console pages; creators and visitors land on the admin login."""

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from tests.factories import make_run
from tests.operators.helpers import make_cache
from training.models import TrainingRun

pytestmark = pytest.mark.django_db
PAGES = ("/ops/queues/", "/ops/storage/", "/ops/models/")
CLEAN = "/ops/storage/clean-caches/"


def _refused(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_it_shows_each_page_to_an_operator(client: Client, operator):
    client.force_login(operator)
    for url, heading in zip(PAGES, ("Queues and workers", "Storage", "Model presets"), strict=True):
        response = client.get(url)
        assert response.status_code == 200, url
        assert f"<h1>{heading}</h1>" in response.content.decode(), url


def test_it_links_every_page_from_the_admin_index(client: Client, operator):
    client.force_login(operator)
    page = client.get("/admin/").content.decode()
    assert "Operations" in page
    for url in (*PAGES, "/ops/system-check/"):
        assert f'href="{url}"' in page, url


@pytest.mark.parametrize("persona", ["creator", "anonymous"])
def test_it_refuses_creators_and_visitors_on_every_page_and_action(client: Client, persona, creator, settings,
                                                                 tmp_path):
    settings.DATA_DIR = tmp_path
    if persona == "creator":
        client.force_login(creator)
    for url in PAGES:
        assert _refused(client.get(url)), url
    ended = make_run(creator, state=TrainingRun.State.SUCCEEDED)
    cache = make_cache(ended.pk, 1000)
    assert _refused(client.post(CLEAN))
    assert cache.exists()
    assert not LogEntry.objects.exists()


def test_it_accepts_the_clean_up_only_as_a_post(client: Client, operator):
    client.force_login(operator)
    assert client.get(CLEAN).status_code == 405
