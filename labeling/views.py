"""The HTML views: the frontend shell (static ES modules do the rest through the API) and the sign-in limit."""

import functools
from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.views.decorators.csrf import ensure_csrf_cookie
from rest_framework.throttling import BaseThrottle

from labeling.services.login_attempts import login_attempt_begin, login_attempt_cancel, login_succeeded


@login_required
@ensure_csrf_cookie
def frontend_index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html")


def login_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a Django login view (the login form, the admin's) with the token API's limit on failed attempts per
    client address and user name: past it a POST answers 429 with the wait, without checking the password.

    A login view re-renders its form (200) on a wrong password and redirects on success, which is how the
    outcome is read without touching the view's internals.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        # DRF's rule for the client address (REMOTE_ADDR, or X-Forwarded-For behind NUM_PROXIES): one count for all.
        client, username = BaseThrottle().get_ident(request), request.POST.get("username", "")
        wait = login_attempt_begin(client=client, username=username)  # counted before the password is checked
        if wait:
            response = TemplateResponse(request, "login_throttled.html", {"wait": wait}, status=429)
            response["Retry-After"] = str(wait)
            return response
        response = view(request, *args, **kwargs)
        if response.status_code in (301, 302) and request.user.is_authenticated:
            login_succeeded(client=client, username=username)
        elif response.status_code != 200:  # refused before the password was checked (CSRF, say)
            login_attempt_cancel(client=client, username=username)
        return response

    return wrapped
