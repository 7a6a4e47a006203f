"""Build a GraphQL object from the read model it shows: one copy of the field-by-field mapping.

The GraphQL types declare their fields themselves (their names, nullability and descriptions are
the SDL in docs/graphql/schema.graphql); their values come from the model the shared reads return,
under the same name. Deriving the types from the pydantic models instead
(``strawberry.experimental.pydantic``) would carry the models' field descriptions and extra fields
into the SDL and leave mypy without the types' names, so the types stay declared and only the
copying is shared. tests/unit/gateway/test_graphql_types.py checks that every copied field exists
on its model, which mypy cannot see through ``getattr``.
"""

from __future__ import annotations

from typing import TypeVar

from strawberry.types.base import get_object_definition

_GraphQLType = TypeVar("_GraphQLType")


def copied_field_names(graphql_type: type[object]) -> tuple[str, ...]:
    """The fields of a GraphQL type that hold a value (not those a resolver computes)."""
    definition = get_object_definition(graphql_type, strict=True)
    return tuple(field.python_name for field in definition.fields if field.base_resolver is None)


def same_named_fields(
    graphql_type: type[_GraphQLType], source: object, **computed: object
) -> _GraphQLType:
    """An instance of ``graphql_type`` whose fields are ``source``'s attributes of the same name,
    except those given in ``computed`` (ids as GraphQL IDs, renamed or nested fields)."""
    values = {
        name: getattr(source, name)
        for name in copied_field_names(graphql_type)
        if name not in computed
    }
    return graphql_type(**values, **computed)
