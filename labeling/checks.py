"""System checks: settings that would otherwise fail on the first click of the day."""

from typing import Any

from django.core.checks import Error, register


@register("weights")
def base_weights_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A configured EDGSP_WEIGHTS must exist (a typo would otherwise fail every click of the day)."""
    from labeling import ml_adapter

    problem = ml_adapter.check_base_weights()
    return (
        [Error(problem, hint="Point EDGSP_WEIGHTS at a checkpoint made by `python -m ml train`.", id="labeling.E001")]
        if problem
        else []
    )
