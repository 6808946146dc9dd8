"""Errors services raise for the user; the web, API and CLI layers turn them into messages."""

from __future__ import annotations


class UserError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(UserError):
    status_code = 404


class Conflict(UserError):
    status_code = 409


class InvalidInput(UserError):
    status_code = 422


class TooLarge(UserError):
    status_code = 413
