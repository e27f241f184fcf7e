"""The one HTML view: the frontend shell (static ES modules do the rest through the API)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def frontend_index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html")
