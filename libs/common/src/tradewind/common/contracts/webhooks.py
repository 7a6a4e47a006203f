"""Bodies of the webhooks API, shared by the webhooks service and the gateway that fronts it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from tradewind.common.contracts.event_filters import EVENT_FILTER_PATTERN, validate_filter
from tradewind.common.contracts.patch import PatchBody
from tradewind.common.contracts.types import SafeText, UtcDateTime

MAX_FILTERS = 50
MAX_URL_LENGTH = 2048
# validate_filter enforces the syntax with a message per mistake; the schema declares the same
# rule as a pattern (a pydantic pattern would answer first, with a less helpful message).
EventFilter = Annotated[
    str,
    Field(max_length=200, json_schema_extra={"pattern": EVENT_FILTER_PATTERN}),
]

# An endpoint URL as the webhooks service accepts it from anyone (webhooks/ssrf.py, check_url):
# https, an ASCII host name (an internationalised one in its xn-- form) whose last label starts
# with a letter, an optional port 1-65535, then printable ASCII but '\\'. A deployment may also
# allow http and IP addresses of its own subnets (TRADEWIND_WEBHOOKS_HTTPS_ONLY, _ALLOW_SUBNETS),
# which the service checks; the schema declares what holds everywhere.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_LAST_LABEL = r"[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_AFTER_HOST = r"[/?#][\u0021-\u005b\u005d-\u007e]*"
ENDPOINT_URL_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]://({_LABEL}\.)*{_LAST_LABEL}\.?(:({_PORT})?)?({_AFTER_HOST})?$"
)
EndpointUrl = Annotated[
    str,
    Field(
        max_length=MAX_URL_LENGTH,
        description="Where deliveries are POSTed: an https URL with a host name of at most 253 "
        "characters. The deployment may also allow http, and IP addresses of its own "
        "subnets; addresses that are not globally routable are refused otherwise.",
        examples=["https://hooks.example.com/tradewind"],
        json_schema_extra={"pattern": ENDPOINT_URL_PATTERN},
    ),
]


# --- request and response bodies ---


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _valid_filters(value: list[str] | None) -> list[str] | None:
    if value is not None:
        for event_filter in value:
            validate_filter(event_filter)
    return value


class EndpointIn(_Body):
    url: EndpointUrl
    description: SafeText = Field(default="", max_length=500)
    event_types: list[EventFilter] = Field(
        default_factory=list,
        max_length=MAX_FILTERS,
        description='Exact types or wildcards ("order.*", "*"); empty = every event type.',
    )
    enabled: StrictBool = True

    _filters = field_validator("event_types")(_valid_filters)


class EndpointPatch(PatchBody):
    """Only the fields present change."""

    url: EndpointUrl | None = None
    description: SafeText | None = Field(default=None, max_length=500)
    event_types: list[EventFilter] | None = Field(default=None, max_length=MAX_FILTERS)
    enabled: StrictBool | None = None

    _filters = field_validator("event_types")(_valid_filters)


class HealthOut(BaseModel):
    circuit: str = Field(description="closed, open or half_open (one probe allowed).")
    consecutive_failures: int
    open_until: datetime | None
    failing_since: datetime | None


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    health: HealthOut
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries are also signed with the previous secret."
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_… signing secret; shown only in this response.")


class EndpointList(BaseModel):
    items: list[EndpointOut]


class SecretRotated(BaseModel):
    endpoint_id: str
    secret: str = Field(description="The new whsec_… secret; shown only in this response.")
    previous_secret_expires_at: datetime | None


class MessageQueued(BaseModel):
    message_id: str
    endpoint_id: str
    status: str


class RecoverIn(_Body):
    since: UtcDateTime = Field(description="Re-queue failed deliveries created at or after.")
    until: UtcDateTime | None = Field(default=None, description="…and before (optional).")


class RecoverOut(BaseModel):
    endpoint_id: str
    recovered: int


class AttemptOut(BaseModel):
    id: int
    message_id: str
    endpoint_id: str
    attempt_number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None
    error: str | None
    succeeded: bool


class AttemptPage(BaseModel):
    items: list[AttemptOut]
    next_before: int | None = Field(description="Pass as ?before= for the next (older) page.")
