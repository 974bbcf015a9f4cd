from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A creator. Staff users are operators (they see the admin console and every run)."""

    email = models.EmailField("email address", unique=True)

    @property
    def is_operator(self) -> bool:
        return self.is_staff
