"""System checks: settings that would otherwise fail on the first click of the day."""

from typing import Any

from django.core.checks import Error, register


@register("weights")
def base_weights_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A configured EDGSP_WEIGHTS must exist (a typo would otherwise fail every click of the day)."""
    from labeling.services.serving import base_weights_problem

    problem = base_weights_problem()
    return (
        [Error(problem, hint="Point EDGSP_WEIGHTS at a checkpoint made by `python -m ml train`.", id="labeling.E001")]
        if problem
        else []
    )


TOKEN_REVOKER = "labeling.services.tokens.RevokeTokensOnPasswordChange"


@register("security")
def token_revoker_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """API tokens end on a password change only through this entry: a settings file that replaces the validators
    must keep it."""
    from django.conf import settings

    names = [entry.get("NAME") for entry in settings.AUTH_PASSWORD_VALIDATORS]
    if TOKEN_REVOKER in names:
        return []
    return [
        Error(
            "AUTH_PASSWORD_VALIDATORS lacks the entry that ends API tokens when a password changes.",
            hint=f'Add {{"NAME": "{TOKEN_REVOKER}"}} to AUTH_PASSWORD_VALIDATORS.',
            id="labeling.E002",
        )
    ]
