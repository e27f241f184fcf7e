"""People management (issue 18, item 6): invite with a one-time link, reset a password, deactivate/reactivate,
and the team list, each under the role rules (a manager never reaches beyond the projects they manage)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from labeling.choices import ImageStatus, Role
from labeling.models import AuditLog, Membership
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def _invite(client, project, **body):
    return client.post(reverse("member-invite", kwargs={"project_id": project.pk}), body, format="json")


def _reset(client, person):
    return client.post(reverse("user-password-reset", kwargs={"user_id": person.pk}))


def _set_active(client, person, is_active):
    return client.patch(reverse("user-detail", kwargs={"user_id": person.pk}), {"is_active": is_active}, format="json")


def _token(username, password):
    return Client().post(reverse("auth-token"), {"username": username, "password": password})


def _set_password(link: str, password: str) -> Client:
    """Follow a one-time link as the invited person would; returns their (now signed-in) browser."""
    browser = Client()
    opened = browser.get(link)
    assert opened.status_code == 302 and opened["Location"].endswith("/set-password/")
    form = browser.get(opened["Location"])
    assert form.status_code == 200 and b'name="new_password1"' in form.content
    done = browser.post(opened["Location"], {"new_password1": password, "new_password2": password})
    assert (done.status_code, done["Location"]) == (302, "/")
    return browser


def _link_is_dead(link: str) -> bool:
    page = Client().get(link)
    return page.status_code == 200 and b"This link does not work" in page.content


def test_invite_makes_a_member_who_sets_their_own_password_once(project, manager, client_for):
    response = _invite(client_for(manager), project, username="newbie", email="n@example.org", role="annotator")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["user"]["username"], body["user"]["status"]) == ("newbie", "invited")
    assert body["user"]["memberships"] == [
        {
            "id": body["user"]["memberships"][0]["id"],
            "project_id": project.pk,
            "project_name": project.name,
            "role": "annotator",
        }
    ]
    assert body["link"].startswith("http://testserver/accounts/setup/") and body["expires_at"]
    assert response["Cache-Control"] == "no-store"
    newbie = User.objects.get(username="newbie")
    assert not newbie.has_usable_password()  # nobody knows a password for the account yet
    assert _token("newbie", "").status_code == 400

    browser = _set_password(body["link"], "chosen-by-newbie")
    assert browser.get("/").status_code == 200  # signed in by the link
    assert _token("newbie", "chosen-by-newbie").status_code == 200
    assert _link_is_dead(body["link"])  # one time only
    assert AuditLog.objects.filter(project=project, action="user.invite", object_id=str(newbie.pk)).exists()


def test_manager_cannot_invite_an_owner_but_an_owner_can(project, manager, owner, client_for):
    refused = _invite(client_for(manager), project, username="boss", role="owner")
    assert refused.status_code == 403
    assert not User.objects.filter(username="boss").exists()  # nothing half-made
    assert _invite(client_for(owner), project, username="boss", role="owner").status_code == 201


def test_invite_refuses_taken_or_invalid_names(project, manager, client_for):
    UserFactory(username="Alice")
    taken = _invite(client_for(manager), project, username="alice", role="viewer")
    assert (taken.status_code, taken.json()["extra"]["exists"]) == (409, True)
    assert _invite(client_for(manager), project, username="no spaces", role="viewer").status_code == 400
    assert _invite(client_for(manager), project, username="ok", email="not-mail", role="viewer").status_code == 400
    assert _invite(client_for(manager), project, username="ok", role="emperor").status_code == 400


def test_reset_kills_the_old_password_sessions_and_token_and_reveals_nothing(project, manager, member, client_for):
    victim = member(Role.ANNOTATOR)
    victim.set_password("old-secret-pw")
    victim.save()
    old_token = Token.objects.create(user=victim)
    old_session = Client()
    old_session.force_login(victim)
    assert old_session.get("/").status_code == 200

    response = _reset(client_for(manager), victim)
    assert response.status_code == 200, response.content
    assert b"old-secret-pw" not in response.content and b"pbkdf2" not in response.content.lower()
    assert "password" not in response.json()["user"]
    assert _token(victim.username, "old-secret-pw").status_code == 400
    assert client_for().get(reverse("me"), HTTP_AUTHORIZATION=f"Token {old_token.key}").status_code == 401
    assert old_session.get("/").status_code == 302  # back to the sign-in page

    second = _reset(client_for(manager), victim).json()["link"]
    assert _link_is_dead(response.json()["link"])  # a newer link replaces it
    _set_password(second, "new-secret-pw")
    assert _token(victim.username, "new-secret-pw").status_code == 200
    assert AuditLog.objects.filter(project=project, action="user.password_reset").count() == 2


def test_deactivate_and_reactivate(project, manager, member, client_for):
    victim = member(Role.ANNOTATOR)
    victim.set_password("pw-of-victim")
    victim.save()
    token = Token.objects.create(user=victim)
    session = Client()
    session.force_login(victim)
    link = _reset(client_for(manager), victim).json()["link"]
    victim.refresh_from_db()

    half_done = ImageFactory(project=project, assigned_to=victim, status=ImageStatus.IN_PROGRESS)
    waiting = ImageFactory(project=project, assigned_to=victim, status=ImageStatus.SUBMITTED)

    off = _set_active(client_for(manager), victim, False)
    assert (off.status_code, off.json()["status"], off.json()["is_active"]) == (200, "deactivated", False)
    assert off.json()["released_images"] == 1  # their unfinished image goes back to the pool for the others
    half_done.refresh_from_db()
    waiting.refresh_from_db()
    assert (half_done.assigned_to_id, half_done.version) == (None, 2)
    assert waiting.assigned_to_id == victim.pk  # submitted work stays theirs for the review
    assert client_for().get(reverse("me"), HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 401
    assert session.get("/").status_code == 302
    assert _link_is_dead(link)  # a link issued before the deactivation never opens
    assert Membership.objects.filter(user=victim, project=project).exists()  # the role is kept for a comeback
    assert _reset(client_for(manager), victim).status_code == 409  # reactivate first

    on = _set_active(client_for(manager), victim, True)
    assert (on.status_code, on.json()["is_active"]) == (200, True)
    _set_password(_reset(client_for(manager), victim).json()["link"], "back-again-pw")
    assert _token(victim.username, "back-again-pw").status_code == 200
    actions = list(AuditLog.objects.filter(project=project, object_id=str(victim.pk)).values_list("action", flat=True))
    assert "user.deactivate" in actions and "user.activate" in actions


@pytest.mark.parametrize("who", ["owner", "superuser", "staff", "self"])
def test_manager_cannot_touch_owners_admins_or_themselves(project, manager, member, client_for, who):
    if who == "owner":
        target = member(Role.OWNER)
    elif who == "self":
        target = manager
    else:
        target = member(Role.VIEWER)
        setattr(target, "is_superuser" if who == "superuser" else "is_staff", True)
        target.save()
    for response in (_set_active(client_for(manager), target, False), _reset(client_for(manager), target)):
        assert response.status_code == 403, response.content
        assert set(response.json()) == {"message", "extra"}
    target.refresh_from_db()
    assert target.is_active and (who == "self" or target.has_usable_password())
    row = client_for(manager).get(reverse("user-detail", kwargs={"user_id": target.pk})).json()
    assert row["manage_denial"]  # the UI hides the buttons with this reason


def test_owner_may_act_on_a_co_owner_and_a_superuser_on_anyone(project, owner, member, client_for):
    co_owner = member(Role.OWNER)
    assert _set_active(client_for(owner), co_owner, False).status_code == 200
    admin = UserFactory(is_superuser=True)
    stranger = UserFactory()  # in no project at all
    assert _reset(client_for(admin), owner).status_code == 200
    assert _set_active(client_for(admin), stranger, False).status_code == 200


def test_manager_cannot_act_on_someone_also_in_a_project_they_do_not_manage(project, manager, member, client_for):
    shared = member(Role.ANNOTATOR)
    secret = ProjectFactory(name="Secret project")
    MembershipFactory(project=secret, user=shared, role=Role.VIEWER)
    response = _set_active(client_for(manager), shared, False)
    assert response.status_code == 403
    assert "Secret project" not in response.json()["message"]
    mine = MembershipFactory(project=secret, user=manager, role=Role.REVIEWER)  # in it, but not managing it
    assert _set_active(client_for(manager), shared, False).status_code == 403
    Membership.objects.filter(pk=mine.pk).update(role=Role.MANAGER)  # now they manage both: allowed
    assert _set_active(client_for(manager), shared, False).status_code == 200


def test_team_list_shows_only_my_managed_projects(project, manager, member, client_for):
    annotator = member(Role.ANNOTATOR)
    elsewhere = ProjectFactory(name="Elsewhere")
    MembershipFactory(project=elsewhere, user=annotator, role=Role.REVIEWER)
    stranger = MembershipFactory(project=elsewhere, role=Role.VIEWER).user

    rows = client_for(manager).get(reverse("user-list")).json()
    by_name = {row["username"]: row for row in rows}
    assert annotator.username in by_name and stranger.username not in by_name
    assert [(m["project_name"], m["role"]) for m in by_name[annotator.username]["memberships"]] == [
        (project.name, "annotator")
    ]
    denial = by_name[annotator.username]["manage_denial"]
    assert denial and "Elsewhere" not in denial  # refused, without naming a project the manager is not in
    assert client_for(annotator).get(reverse("user-list")).json() == []  # manages nothing: sees nobody
    everyone = client_for(UserFactory(is_superuser=True)).get(reverse("user-list")).json()
    assert {annotator.username, stranger.username} <= {row["username"] for row in everyone}

    filtered = client_for(manager).get(reverse("user-list"), {"project": project.pk})
    assert filtered.status_code == 200 and annotator.username in {row["username"] for row in filtered.json()}
    assert client_for(manager).get(reverse("user-list"), {"project": elsewhere.pk}).status_code == 404
    assert client_for(annotator).get(reverse("user-list"), {"project": project.pk}).status_code == 403
    assert client_for(manager).get(reverse("user-detail", kwargs={"user_id": stranger.pk})).status_code == 404


def test_an_expired_link_does_not_open(project, manager, client_for, settings):
    link = _invite(client_for(manager), project, username="late", role="viewer").json()["link"]
    settings.PASSWORD_RESET_TIMEOUT = -1
    assert _link_is_dead(link)


def test_change_own_password(member):
    person = member(Role.VIEWER)
    person.set_password("first-password")
    person.save()
    browser = Client()
    browser.force_login(person)
    url = reverse("password-change")
    wrong = browser.post(url, {"old_password": "nope", "new_password1": "second-pass", "new_password2": "second-pass"})
    assert wrong.status_code == 200  # the form again, with its error
    done = browser.post(
        url, {"old_password": "first-password", "new_password1": "second-pass", "new_password2": "second-pass"}
    )
    assert done.status_code == 302
    assert _token(person.username, "second-pass").status_code == 200
