"""API tokens die with the password that issued them (every way a password changes), and live at most
API_TOKEN_TTL_HOURS when that is set: an expired token answers 401 {message, extra} and a new sign-in gets a new one."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labeling.services.users import account_link_token
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "an-old-long-password"


@pytest.fixture
def person():
    return get_user_model().objects.create_user(username="tess", password=PASSWORD)


def _sign_in(password: str = PASSWORD) -> str:
    response = APIClient().post(reverse("auth-token"), {"username": "tess", "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _me(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(reverse("me"))


def _refused(response) -> dict:
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"message", "extra"}
    return body


def test_changing_your_own_password_on_the_page_ends_your_tokens(person):
    key = _sign_in()
    assert _me(key).status_code == 200
    browser = Client()
    browser.force_login(person)
    changed = browser.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "a-new-long-password", "new_password2": "a-new-long-password"},
    )
    assert changed.status_code == 302
    _refused(_me(key))
    assert not Token.objects.filter(user=person).exists()
    assert _me(_sign_in("a-new-long-password")).status_code == 200


def test_a_password_set_anywhere_ends_the_tokens(person):
    """The admin's form, `manage.py changepassword` and scripts all call set_password() and save()."""
    key = _sign_in()
    other = UserFactory()
    other_key = Token.objects.create(user=other).key
    person.set_password("set-by-an-administrator")
    person.save()
    _refused(_me(key))
    assert _me(other_key).status_code == 200  # someone else's token is not touched


def test_choosing_a_password_from_a_one_time_link_ends_the_tokens(person):
    key = _sign_in()
    uid = urlsafe_base64_encode(str(person.pk).encode())
    browser = Client()
    opened = browser.get(f"/accounts/setup/{uid}/{account_link_token.make_token(person)}/", follow=True)
    assert opened.status_code == 200
    form_url = opened.redirect_chain[-1][0]
    chosen = browser.post(form_url, {"new_password1": "link-chosen-password", "new_password2": "link-chosen-password"})
    assert chosen.status_code == 302
    _refused(_me(key))


def test_signing_in_again_does_not_end_the_token(person):
    key = _sign_in()
    assert _sign_in() == key
    assert Client().login(username="tess", password=PASSWORD)
    assert _me(key).status_code == 200


def test_tokens_live_for_ever_by_default(person, settings):
    settings.API_TOKEN_TTL_HOURS = 0
    key = _sign_in()
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(days=400))
    assert _me(key).status_code == 200


def test_an_expired_token_is_401_and_signing_in_gives_a_new_one(person, settings):
    settings.API_TOKEN_TTL_HOURS = 12
    key = _sign_in()
    assert _me(key).status_code == 200
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=11, minutes=59))
    assert _me(key).status_code == 200
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=12, minutes=1))
    body = _refused(_me(key))
    assert "expired" in body["message"] and "12 hours" in body["message"]
    assert not Token.objects.filter(key=key).exists()
    fresh = _sign_in()
    assert fresh != key
    assert _me(fresh).status_code == 200


def test_an_expired_token_is_replaced_at_sign_in_even_before_it_is_used(person, settings):
    settings.API_TOKEN_TTL_HOURS = 1
    key = _sign_in()
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=2))
    fresh = _sign_in()
    assert fresh != key
    assert _me(fresh).status_code == 200


def test_settings_without_the_revoker_fail_the_system_check(settings):
    from labeling.checks import token_revoker_check

    assert token_revoker_check() == []
    settings.AUTH_PASSWORD_VALIDATORS = [{"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"}]
    assert [error.id for error in token_revoker_check()] == ["labeling.E002"]
