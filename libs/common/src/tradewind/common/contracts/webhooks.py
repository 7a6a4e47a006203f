"""Bodies of the webhooks API, shared by the webhooks service and the gateway that fronts it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradewind.common.contracts.event_filters import validate_filter
from tradewind.common.contracts.types import SafeText, UtcDateTime

MAX_FILTERS = 50
EventFilter = Annotated[str, Field(max_length=200)]  # as long as an event type may be

# --- request and response bodies ---


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _valid_filters(value: list[str] | None) -> list[str] | None:
    if value is not None:
        for event_filter in value:
            validate_filter(event_filter)
    return value


class EndpointIn(_Body):
    url: str = Field(max_length=2048, description="Where deliveries are POSTed (https).")
    description: SafeText = Field(default="", max_length=500)
    event_types: list[EventFilter] = Field(
        default_factory=list,
        max_length=MAX_FILTERS,
        description='Exact types or wildcards ("order.*", "*"); empty = every event type.',
    )
    enabled: bool = True

    _filters = field_validator("event_types")(_valid_filters)


class EndpointPatch(_Body):
    """Only the fields present change."""

    url: str | None = Field(default=None, max_length=2048)
    description: SafeText | None = Field(default=None, max_length=500)
    event_types: list[EventFilter] | None = Field(default=None, max_length=MAX_FILTERS)
    enabled: bool | None = None

    _filters = field_validator("event_types")(_valid_filters)

    @model_validator(mode="after")
    def _no_nulls(self) -> EndpointPatch:
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} cannot be null; omit to keep")
        return self


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
