"""ApplicationError: the one error type services raise for the API to render as {message, extra}."""

from typing import Any


class ApplicationError(Exception):
    status_code = 400

    def __init__(self, message: str, extra: dict[str, Any] | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code


class ConflictError(ApplicationError):
    """A stale write: the client's version is not the stored one (HTTP 409)."""

    status_code = 409
