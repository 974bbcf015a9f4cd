from __future__ import annotations

import math
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm, UsernameField
from django.http import HttpRequest

from accounts import throttle
from accounts.models import User
from accounts.throttle import client_ip


class SignUpForm(UserCreationForm[User]):
    email = forms.EmailField(
        help_text="We send password-reset links and notices when your training finishes here.",
    )

    class Meta:
        model = User
        fields = ("username", "email")
        field_classes = {"username": UsernameField}

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        domains = settings.SIGNUP_EMAIL_DOMAINS
        if domains and email.rpartition("@")[2] not in domains:
            allowed = ", ".join(f"@{domain}" for domain in domains)
            raise forms.ValidationError(f"This studio takes accounts for {allowed} addresses only. Use one, or ask "
                                        "its operator for an account.")
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Try signing in instead.")
        return email


class ThrottledSignIn:
    """Mixed into Django's sign-in forms: refuses to check a password while the throttle says wait."""

    request: HttpRequest | None
    cleaned_data: dict[str, Any]
    throttled = False

    def clean(self) -> dict[str, Any]:
        username, ip = self.cleaned_data.get("username") or "", client_ip(self.request)
        if username and (wait := throttle.seconds_to_wait(username, ip)):
            minutes = max(1, math.ceil(wait / 60))
            self.throttled = True
            raise forms.ValidationError(
                f"Too many wrong passwords. For your account's safety, signing in is paused for {minutes} "
                f"minute{'s' if minutes != 1 else ''}. Forgot your password? Reset it below.",
                code="throttled",
            )
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except forms.ValidationError as error:
            if username and error.code == "invalid_login":
                throttle.record_failure(username, ip)
            raise
        throttle.forget(username)
        return cleaned


class SignInForm(ThrottledSignIn, AuthenticationForm):
    pass


class OperatorSignInForm(ThrottledSignIn, AdminAuthenticationForm):
    pass
