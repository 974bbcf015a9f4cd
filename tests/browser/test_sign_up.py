"""A new creator signs up in Chromium against the real ASGI server and sees the dashboard."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_new_creator_signs_up_and_sees_what_to_do_next(page: Page, live_asgi_url: str, screenshots_dir):
    page.goto(live_asgi_url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Teach LTX-2.3")
    page.screenshot(path=screenshots_dir / "home.png", full_page=True)

    page.get_by_role("link", name="Create a free account").click()
    page.get_by_label("Username").fill("maya")
    page.get_by_label("Email").fill("maya@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.screenshot(path=screenshots_dir / "signup.png", full_page=True)
    page.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(live_asgi_url + "/dashboard/")
    expect(page.get_by_role("heading", name="Your studio")).to_be_visible()
    expect(page.get_by_text("No datasets yet.")).to_be_visible()
    expect(page.get_by_text("No training runs yet.")).to_be_visible()
    expect(page.get_by_text("No adapters yet.")).to_be_visible()
    expect(page.locator(".who")).to_have_text("maya")
    page.screenshot(path=screenshots_dir / "dashboard-empty.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("heading", name="Your studio")).to_be_visible()
    page.screenshot(path=screenshots_dir / "dashboard-phone.png", full_page=True)


def test_healthz_answers_through_the_asgi_server(page: Page, live_asgi_url: str):
    response = page.request.get(live_asgi_url + "/healthz")
    body = response.json()
    assert (body["database"], body["broker"], body["channel_layer"]) == ("ok", "ok", "ok")  # anonymous: words only
