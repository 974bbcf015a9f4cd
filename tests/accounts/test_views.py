import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_a_visitor_signs_up_and_lands_on_an_empty_dashboard(client: Client):
    response = client.post(
        "/accounts/signup/",
        {"username": "maya", "email": "Maya@Example.com", "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert User.objects.get(username="maya").email == "maya@example.com"
    page = response.content.decode()
    assert "No datasets yet." in page and "No training runs yet." in page and "No adapters yet." in page


def test_sign_up_refuses_an_email_that_is_already_used(client: Client, creator):
    response = client.post(
        "/accounts/signup/",
        {"username": "someone", "email": creator.email.upper(), "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200
    assert "An account with this email already exists" in response.content.decode()
    assert not User.objects.filter(username="someone").exists()


def test_sign_up_explains_a_weak_password_and_saves_nothing(client: Client):
    response = client.post(
        "/accounts/signup/", {"username": "sam", "email": "sam@example.com", "password1": "123", "password2": "123"}
    )
    assert "This password is too short" in response.content.decode()
    assert not User.objects.filter(username="sam").exists()


def test_a_creator_logs_in_and_out(client: Client, creator):
    response = client.post("/accounts/login/", {"username": creator.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert client.get("/dashboard/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")


def test_a_wrong_password_gets_a_plain_message(client: Client, creator):
    response = client.post("/accounts/login/", {"username": creator.username, "password": "wrong"})
    assert "That username and password do not match" in response.content.decode()


def test_password_reset_sends_a_link_that_sets_a_new_password(client: Client, creator):
    client.post("/accounts/password-reset/", {"email": creator.email})
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Reset your ICLoRA Studio password"
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", str(mail.outbox[0].body))
    assert link is not None
    form_page = client.get(link.group(1), follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "another-long-password-7", "new_password2": "another-long-password-7"},
        follow=True,
    )
    assert "Your password is changed" in done.content.decode()
    assert Client().login(username=creator.username, password="another-long-password-7")


def test_password_reset_does_not_reveal_unknown_emails(client: Client):
    response = client.post("/accounts/password-reset/", {"email": "nobody@example.com"}, follow=True)
    assert "If an account uses that address" in response.content.decode()
    assert mail.outbox == []


def test_staff_users_are_operators(creator, operator):
    assert operator.is_operator and not creator.is_operator


def test_with_sign_up_closed_the_site_offers_no_account_and_refuses_one(client: Client, settings):
    settings.SIGNUP_OPEN = False
    for page in ("/", "/accounts/login/"):
        assert "/accounts/signup/" not in client.get(page).content.decode(), page
    assert "Ask its operator to make one for you" in client.get("/accounts/signup/").content.decode()
    response = client.post(
        "/accounts/signup/",
        {"username": "maya", "email": "maya@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 403 and not User.objects.exists()


def test_sign_up_can_be_kept_to_the_teams_email_domains(client: Client, settings):
    settings.SIGNUP_EMAIL_DOMAINS = ["studio.example.com"]
    refused = client.post(
        "/accounts/signup/",
        {"username": "maya", "email": "maya@gmail.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert "takes accounts for @studio.example.com addresses only" in refused.content.decode()
    assert not User.objects.exists()
    client.post(
        "/accounts/signup/",
        {"username": "maya", "email": "Maya@Studio.Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert User.objects.get().email == "maya@studio.example.com"
