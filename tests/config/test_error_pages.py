"""Error pages look like the app and say what to do next, in plain words."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.views.defaults import permission_denied, server_error

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_the_apps_own_page_with_a_way_back(client, creator):
    page = client.get("/no-such-page/")
    text = page.content.decode()
    assert page.status_code == 404 and "This page isn't here" in text and 'href="/accounts/login/"' in text
    assert "css/app.css" in text and "Page not found" not in text  # not Django's bare page
    client.force_login(creator)
    assert 'href="/dashboard/"' in client.get("/no-such-page/").content.decode()


def test_a_forbidden_page_says_why_it_may_have_happened(creator):
    request = RequestFactory().get("/ops/queues/")
    request.user = creator
    response = permission_denied(request, PermissionDenied())
    text = response.content.decode()
    assert response.status_code == 403 and "You can't open this page" in text and "dashboard" in text


def test_a_server_error_page_needs_nothing_from_the_request():
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    response = server_error(request)
    text = response.content.decode()
    assert response.status_code == 500 and "Something went wrong on our side" in text and "css/app.css" in text
