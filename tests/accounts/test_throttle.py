"""The sign-in throttle: wrong passwords are counted per account and per address, and sign-in waits."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import FailedSignIn
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(password: str, username: str = "maya", ip: str = "203.0.113.7", path: str = "/accounts/login/"):
    return Client(REMOTE_ADDR=ip).post(path, {"username": username, "password": password})


@pytest.fixture
def limits(settings):
    settings.LOGIN_MAX_FAILURES, settings.LOGIN_MAX_FAILURES_PER_IP, settings.LOGIN_LOCKOUT_MINUTES = 3, 5, 15
    return settings


def test_after_too_many_wrong_passwords_even_the_right_one_waits(creator, limits):
    for _ in range(3):
        assert "That username and password do not match" in _sign_in("wrong").content.decode()
    page = _sign_in(PASSWORD).content.decode()
    assert "Too many wrong passwords" in page and "paused for 15 minutes" in page
    assert FailedSignIn.objects.count() == 3  # waiting is not a new failure


def test_the_pause_ends_when_the_failures_leave_the_window(creator, limits):
    for _ in range(3):
        _sign_in("wrong")
    FailedSignIn.objects.update(created_at=timezone.now() - timedelta(minutes=16))
    assert _sign_in(PASSWORD).status_code == 302


def test_a_right_password_clears_the_accounts_count(creator, limits):
    for _ in range(2):
        _sign_in("wrong")
    assert _sign_in(PASSWORD).status_code == 302
    assert not FailedSignIn.objects.filter(username="maya").exists()
    for _ in range(2):
        _sign_in("wrong")
    assert _sign_in(PASSWORD).status_code == 302


def test_one_address_trying_many_accounts_waits_too(creator, other_creator, limits):
    for name in ("a", "b", "c", "d", "e"):
        _sign_in("wrong", username=name)
    assert "Too many wrong passwords" in _sign_in(PASSWORD).content.decode()
    assert _sign_in(PASSWORD, ip="198.51.100.9").status_code == 302  # another address is not held back


def test_behind_the_proxy_the_address_the_proxy_saw_counts(creator, limits):
    limits.BEHIND_PROXY = True
    for name in ("a", "b", "c", "d", "e"):
        Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"1.2.3.4, 203.0.113.{len(name)}").post(
            "/accounts/login/", {"username": name, "password": "wrong"})
    assert set(FailedSignIn.objects.values_list("ip", flat=True)) == {"203.0.113.1"}


def test_the_operators_sign_in_is_throttled_the_same_way(operator, limits):
    for _ in range(3):
        _sign_in("wrong", username="olivia", path="/admin/login/")
    assert "Too many wrong passwords" in _sign_in(PASSWORD, username="olivia", path="/admin/login/").content.decode()


def test_a_forwarded_address_that_is_not_one_is_ignored_not_stored(creator, limits):
    limits.BEHIND_PROXY = True
    response = Client(HTTP_X_FORWARDED_FOR="1.2.3.4, <script>").post(
        "/accounts/login/", {"username": "maya", "password": "wrong"})
    assert "That username and password do not match" in response.content.decode()
    assert list(FailedSignIn.objects.values_list("username", "ip")) == [("maya", None)]
