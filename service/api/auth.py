"""Admin and batch authentication: bearer tokens compared in constant time."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from ..errors import AdminDisabled, Unauthorized
from .state import Services


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def require_admin(request: Request) -> None:
    token = services(request).settings.admin_token
    if token is None:
        raise AdminDisabled("the admin API is disabled: set VIEWCOUNT_ADMIN_TOKEN")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise Unauthorized("send Authorization: Bearer <VIEWCOUNT_ADMIN_TOKEN>")


def require_batch_writer(request: Request) -> None:
    """The admin token or one of VIEWCOUNT_INGEST_TOKENS (log shippers' own, batch only)."""
    tokens = services(request).settings.batch_tokens
    if not tokens:
        raise AdminDisabled(
            "batches are disabled: set VIEWCOUNT_ADMIN_TOKEN or VIEWCOUNT_INGEST_TOKENS"
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    sent = given.strip().encode()
    # Every token is compared, whichever matches: the time taken says nothing about which.
    matched = [hmac.compare_digest(sent, token) for token in tokens]
    if scheme.lower() != "bearer" or not any(matched):
        raise Unauthorized("send Authorization: Bearer <an ingest token or the admin token>")


def requires_admin(route: BaseRoute) -> bool:
    """Whether the route answers only with the admin token (it depends on require_admin)."""
    return _depends_on(route, require_admin)


def takes_ingest_tokens(route: BaseRoute) -> bool:
    """Whether the route answers to an ingest token as well (it depends on
    require_batch_writer)."""
    return _depends_on(route, require_batch_writer)


def _depends_on(route: BaseRoute, check: object) -> bool:
    return isinstance(route, APIRoute) and any(
        dep.call is check for dep in route.dependant.dependencies
    )


Svc = Annotated[Services, Depends(services)]
Admin = Depends(require_admin)
BatchWriter = Depends(require_batch_writer)
