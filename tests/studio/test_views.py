import pytest
from django.test import Client

from tests.factories import make_dataset, make_run

pytestmark = pytest.mark.django_db


def test_the_dashboard_needs_a_signed_in_creator(client: Client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"


def test_the_dashboard_lists_only_the_creators_own_things(client: Client, creator, other_creator):
    make_dataset(creator, name="Depth walks")
    make_run(creator, name="Depth v1")
    make_dataset(other_creator, name="Secret pose set")
    client.force_login(creator)
    page = client.get("/dashboard/").content.decode()
    assert "Depth walks" in page and "Depth v1" in page
    assert "Secret pose set" not in page


def test_a_run_page_is_404_for_another_creator(client: Client, creator, other_creator):
    run = make_run(creator, name="Private run")
    client.force_login(other_creator)
    assert client.get(f"/runs/{run.pk}/").status_code == 404
    client.force_login(creator)
    assert "Private run" in client.get(f"/runs/{run.pk}/").content.decode()


def test_operators_can_open_any_run(client: Client, creator, operator):
    run = make_run(creator)
    client.force_login(operator)
    assert client.get(f"/runs/{run.pk}/").status_code == 200


def test_the_home_page_sends_signed_in_creators_to_their_dashboard(client: Client, creator):
    assert "Teach LTX-2.3" in client.get("/").content.decode()
    client.force_login(creator)
    assert client.get("/")["Location"] == "/dashboard/"
