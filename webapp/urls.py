"""URL conf: admin, the versioned API, auth pages, and the frontend shell."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from labeling.account_views import AccountSetupView, PasswordChangeView
from labeling.middleware import csp_update
from labeling.views import frontend_index, login_throttled

_docs_csp = csp_update(style_src="'self' 'unsafe-inline'")

urlpatterns = [
    # Both sign-in doors limit failed attempts (labeling.views.login_throttled); this one shadows admin's own path.
    path("admin/login/", login_throttled(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("labeling.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The docs under the Content-Security-Policy: Swagger UI's start script as a file (the split view), Redoc from
    # webapp/templates/drf_spectacular/redoc.html (no inline script, no web fonts); both inject inline styles.
    path("api/v1/docs/", _docs_csp(SpectacularSwaggerSplitView.as_view(url_name="schema")), name="api-docs"),
    path("api/v1/redoc/", _docs_csp(SpectacularRedocView.as_view(url_name="schema")), name="api-redoc"),
    path("accounts/login/", login_throttled(auth_views.LoginView.as_view(template_name="login.html")), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One-time links from an invitation or a password reset (labeling.services.users); changing your own password.
    path("accounts/setup/<uidb64>/<token>/", AccountSetupView.as_view(), name="account-setup"),
    path("accounts/password/", PasswordChangeView.as_view(), name="password-change"),
    path("", frontend_index, name="frontend"),
]

# Errors outside the API views (an unknown URL, a request limit hit while reading the body, a crash): JSON
# {message, extra} under /api/, Django's HTML pages elsewhere.
handler400 = "webapp.exception_handler.bad_request"
handler403 = "webapp.exception_handler.permission_denied"
handler404 = "webapp.exception_handler.page_not_found"
handler500 = "webapp.exception_handler.server_error"
