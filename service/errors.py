"""Domain errors: raised by the code that finds the problem, turned into HTTP only in api/."""

from __future__ import annotations


class DomainError(Exception):
    """A request the service refuses; ``code`` is the stable identifier API.md names."""

    code = "invalid_request"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class InvalidBody(DomainError):
    code = "invalid_body"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class RequestTimeout(DomainError):
    code = "request_timeout"


class InvalidArticleId(DomainError):
    code = "invalid_article_id"


class InvalidParameter(DomainError):
    code = "invalid_parameter"


class InvalidField(DomainError):
    code = "invalid_field"


class UnknownArticle(DomainError):
    code = "unknown_article"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unauthorized(DomainError):
    code = "unauthorized"


class AdminDisabled(DomainError):
    code = "admin_disabled"
