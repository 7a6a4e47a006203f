"""PATCH bodies: a field left out keeps its value, and a field is never null.

"Null" would have to mean something (clear it? the default?) for every field of every resource;
these bodies have no such meaning for their top-level fields, so null is refused and the schema
does not offer it. A field whose null does mean something declares it on a nested model.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


def _declare_absent_not_null(schema: dict[str, Any], model: type[BaseModel]) -> None:
    # Pydantic declares `X | None = None` as anyOf [X, null] with default null; what the body
    # accepts is X, or the field left out.
    for field in schema.get("properties", {}).values():
        branches = field.pop("anyOf", None)
        if branches is not None:
            (kept,) = [branch for branch in branches if branch.get("type") != "null"]
            field.update(kept)
        field.pop("default", None)
    if getattr(model, "requires_a_field", False):
        schema["minProperties"] = 1


class PatchBody(BaseModel):
    """Fields are ``X | None = None`` in Python (None: left out) and never null on the wire.

    ``requires_a_field``: a body must name at least one field (an empty change is a mistake).
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_declare_absent_not_null)
    requires_a_field: ClassVar[bool] = False

    @model_validator(mode="after")
    def _no_nulls(self) -> PatchBody:
        if self.requires_a_field and not self.model_fields_set:
            raise ValueError("send at least one field to change")
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} cannot be null; omit to keep")
        return self
