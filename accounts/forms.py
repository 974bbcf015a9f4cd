from django import forms
from django.contrib.auth.forms import UserCreationForm, UsernameField

from accounts.models import User


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
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Try signing in instead.")
        return email
