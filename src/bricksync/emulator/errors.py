"""Error bodies exactly as the Databricks REST API sends them: {"error_code", "message"} + status.

https://docs.databricks.com/api/workspace/jobs (every endpoint's error responses), and
databricks-sdk's errors/mapping.py, which maps these codes to its exception classes.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error_code": self.error_code, "message": self.message}


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def already_exists(message: str) -> ApiError:
    return ApiError(400, "RESOURCE_ALREADY_EXISTS", message)


def permission_denied(message: str) -> ApiError:
    return ApiError(403, "PERMISSION_DENIED", message)


def unauthenticated() -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
