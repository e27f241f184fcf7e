"""The account pages: choose a password from a one-time link (an invitation or a reset), change your own."""

from django.contrib.auth import views as auth_views

from labeling.services.users import account_link_token


class AccountSetupView(auth_views.PasswordResetConfirmView):
    """The page a one-time link opens: the person chooses their password and is signed in. Django's reset view:
    the token leaves the URL at once (kept in the session, so no Referer carries it), and setting the password,
    signing in or a deactivation spends it."""

    token_generator = account_link_token
    template_name = "account_setup.html"
    post_reset_login = True
    success_url = "/"
    title = "Choose your password"


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change your own password (the old one is asked; other sessions end, this one stays)."""

    template_name = "password_change.html"
    success_url = "/"
