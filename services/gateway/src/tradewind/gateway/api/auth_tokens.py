"""/api/v1/auth: exchange an API key for a short-lived access token (OAuth 2.0 client
credentials, RFC 6749 §4.4), and tell a caller who it is.

The client authenticates with its API key as the client secret, by HTTP Basic or by form fields
(RFC 6749 §2.3.1); the client id is optional and, when sent, must be the key's id. Errors are
RFC 9457 problem documents that also carry RFC 6749 §5.2's ``error`` and ``error_description``
members, so OAuth client libraries (which read ``error`` from the JSON body) and our own clients
both understand them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tradewind.common.problems import Problem
from tradewind.gateway.api.auth import require_credential
from tradewind.gateway.bootstrap import GatewayRuntime
from tradewind.gateway.domain.auth_model import Principal, key_digest, key_id_of
from tradewind.gateway.domain.tokens import looks_like_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
# Any valid credential, whatever its scopes: it asks what those are.
Caller = Annotated[Principal, require_credential("reads")]

FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 4096

_OAUTH_ERRORS = {
    "invalid_request": (400, "Bad Request"),
    "invalid_client": (401, "Unauthorized"),
    "unsupported_grant_type": (400, "Bad Request"),
    "invalid_scope": (400, "Bad Request"),
    "temporarily_unavailable": (503, "Service Unavailable"),
}


class AccessToken(BaseModel):
    """RFC 6749 §5.1 access token response."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the token expires.", examples=[900])
    scope: str = Field(
        description="Space-separated scopes of the token.", examples=["orders:read orders:write"]
    )


class Me(BaseModel):
    account_id: str = Field(examples=["acme"])
    key_id: str = Field(examples=["key_3f1c2a9b8d7e6f50"])
    scopes: list[str] = Field(examples=[["orders:read", "orders:write"]])
    credential: Literal["api_key", "access_token"] = Field(
        description="How this request authenticated."
    )


def oauth_error(error: str, description: str, *, basic: bool = False) -> Problem:
    status, title = _OAUTH_ERRORS[error]
    headers = {"Cache-Control": "no-store"}
    if error == "invalid_client":
        headers["WWW-Authenticate"] = (
            'Basic realm="tradewind"' if basic else 'Bearer realm="tradewind"'
        )
    if status == 503:
        headers["Retry-After"] = "2"
    return Problem(
        status,
        title,
        description,
        kind=f"oauth-{error.replace('_', '-')}",
        headers=headers,
        error=error,
        error_description=description,
    )


def _form(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("ascii")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        raise oauth_error("invalid_request", "The body is not a valid form.") from None
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:
        # RFC 6749 §3.2: parameters must not be included more than once.
        raise oauth_error("invalid_request", f"Repeated parameter: {', '.join(repeated)}.")
    return {name: values[0] for name, values in fields.items()}


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise oauth_error("invalid_client", "Malformed Basic credentials.", basic=True) from None
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise oauth_error("invalid_client", "Malformed Basic credentials.", basic=True)
    # RFC 6749 §2.3.1: both are form-urlencoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)


TOKEN_REQUEST_BODY = {
    "required": True,
    "content": {
        FORM: {
            "schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "scope": {
                        "type": "string",
                        "description": "Space-separated scopes, a subset of the key's.",
                    },
                    "client_id": {
                        "type": "string",
                        "description": "The key's id (optional); or send it by HTTP Basic.",
                    },
                    "client_secret": {
                        "type": "string",
                        "description": "The API key; or send it by HTTP Basic.",
                    },
                },
            },
            "example": {"grant_type": "client_credentials", "client_secret": "tw_..."},
        }
    },
}


@router.post(
    "/token",
    response_model=AccessToken,
    summary="Exchange an API key for a short-lived access token (OAuth 2.0 client credentials)",
    openapi_extra={"requestBody": TOKEN_REQUEST_BODY},
    responses={
        400: {
            "content": {"application/problem+json": {}},
            "description": "invalid_request, unsupported_grant_type or invalid_scope",
        },
        401: {"content": {"application/problem+json": {}}, "description": "invalid_client"},
        503: {
            "content": {"application/problem+json": {}},
            "description": "Token exchange is not configured, or a dependency is unavailable",
        },
    },
)
async def issue_token(request: Request) -> JSONResponse:
    runtime: GatewayRuntime = request.app.state.runtime
    store = runtime.api_keys
    tokens = store.tokens
    if tokens is None:
        raise oauth_error("temporarily_unavailable", "Token exchange is not configured.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise oauth_error("invalid_request", f"Send the parameters as {FORM}.")
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise oauth_error("invalid_request", "The form is too large.")
    form = _form(raw)
    basic = _basic_credentials(request.headers.get("authorization", ""))
    if basic is not None and "client_secret" in form:
        raise oauth_error("invalid_request", "Authenticate by one method only: Basic or form.")
    grant_type = form.get("grant_type")
    if not grant_type:
        raise oauth_error("invalid_request", "grant_type is required.")
    if grant_type != "client_credentials":
        raise oauth_error("unsupported_grant_type", "Only client_credentials is supported.")
    if basic is not None:
        client_id, secret = basic
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if not secret:
        raise oauth_error("invalid_client", "Send the API key as the client secret.")
    principal = None
    if not looks_like_token(secret):  # a token cannot buy another token
        principal = await store.authenticate(secret)
    if principal is None or (client_id and client_id != key_id_of(key_digest(secret))):
        raise oauth_error(
            "invalid_client", "The client credentials are not valid.", basic=basic is not None
        )
    scopes = principal.scopes
    if "scope" in form:
        requested = frozenset(form["scope"].split())
        if not requested or not requested <= principal.scopes:
            raise oauth_error("invalid_scope", "Request only scopes the key has.")
        scopes = requested
    issued = tokens.issue(principal.account_id, principal.key_id, scopes)
    body = AccessToken(
        access_token=issued.token, expires_in=issued.expires_in, scope=" ".join(sorted(scopes))
    )
    return JSONResponse(
        body.model_dump(),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get(
    "/me",
    response_model=Me,
    summary="Who this request acts for: account, key and scopes",
    responses={
        401: {
            "content": {"application/problem+json": {}},
            "description": "Missing or invalid API key or access token",
        },
        503: {
            "content": {"application/problem+json": {}},
            "description": "A dependency is unavailable; retry after Retry-After seconds",
        },
    },
)
async def me(principal: Caller) -> Me:
    return Me(
        account_id=principal.account_id,
        key_id=principal.key_id,
        scopes=sorted(principal.scopes),
        credential=principal.credential,
    )
