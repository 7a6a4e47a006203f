"""The cost of a GraphQL query: how many reads of the services behind the gateway it may make.

A field that reads a service declares it (``reads()`` in its metadata); a connection also names
the argument that says how many items it returns (``first``), and every read below it counts
that many times: ``orders(first: 50) { edges { node { replacedBy { id } } } }`` costs 1 + 50.
The count is the worst case, known before anything runs, so a query over the limit is refused
whole (as a validation error) instead of failing half-way. Introspection fields cost nothing:
they read no service, and the token limit bounds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.field import StrawberryField

COST = "tradewind.cost"
FANOUT = "tradewind.fanout"


Resolver = TypeVar("Resolver", bound=Callable[..., Any])


def read_field(
    description: str, *, items_from: str | None = None
) -> Callable[[Resolver], Resolver]:
    """A field whose resolver makes one read of a service each time it resolves;
    ``items_from`` names the argument that says how many items it returns."""
    # Typed here once: Strawberry's overload for keyword arguments only returns Any.
    field: Callable[[Resolver], Resolver] = strawberry.field(
        description=description, metadata={COST: 1, FANOUT: items_from}
    )
    return field


def _metadata(field: GraphQLField) -> Mapping[str, Any]:
    # Strawberry keeps each field's declaration on graphql-core's field.
    definition = (field.extensions or {}).get("strawberry-definition")
    return definition.metadata if isinstance(definition, StrawberryField) else {}


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == name), None)


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        defaults: dict[str, Any] = {}
        for definition in operation.variable_definitions or ():
            if isinstance(definition.default_value, IntValueNode):
                defaults[definition.variable.name.value] = int(definition.default_value.value)
        self.variables = {**defaults, **variables}

    def items(self, field: GraphQLField, node: FieldNode, argument: str) -> int:
        """How many items the field may return: its argument as given, else its default."""
        value: Any = None
        for given in node.arguments or ():
            if given.name.value != argument:
                continue
            if isinstance(given.value, IntValueNode):
                value = int(given.value.value)
            elif isinstance(given.value, VariableNode):
                value = self.variables.get(given.value.name.value)
        if value is None and argument in field.args:
            value = field.args[argument].default_value
        # Not an int: execution refuses it before any read.
        return value if isinstance(value, int) and value > 0 else 1

    def fields(
        self, selections: SelectionSetNode, parent: GraphQLNamedType, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, GraphQLObjectType | GraphQLInterfaceType]]:
        """The fields of a selection set with its fragments spread, each with its parent type."""
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
                    yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                if inner is not None:
                    yield from self.fields(selection.selection_set, inner, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue  # validation reports both
                inner = self.schema.get_type(fragment.type_condition.name.value)
                if inner is not None:
                    yield from self.fields(fragment.selection_set, inner, seen | {name})

    def cost(
        self,
        selections: SelectionSetNode,
        parent: GraphQLNamedType,
        times: int,
        seen: frozenset[str],
    ) -> int:
        total = 0
        for node, parent_type in self.fields(selections, parent, seen):
            field = parent_type.fields.get(node.name.value)
            if field is None or node.name.value.startswith("__"):
                continue
            metadata = _metadata(field)
            total += int(metadata.get(COST, 0)) * times
            if node.selection_set is not None:
                argument = metadata.get(FANOUT)
                inner_times = times * (self.items(field, node, argument) if argument else 1)
                total += self.cost(
                    node.selection_set, get_named_type(field.type), inner_times, seen
                )
        return total


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """The reads the operation may make at most; 0 for an operation that is not there (execution
    then reports it)."""
    operation = _operation(document, operation_name)
    root = schema.query_type
    if operation is None or root is None:
        return 0
    walk = _Walk(schema, document, operation, variables or {})
    return walk.cost(operation.selection_set, root, 1, frozenset())


class QueryCostLimiter(SchemaExtension):
    """Refuse an operation whose cost (``query_cost``) is over ``max_cost``, before it runs."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            cost = query_cost(
                context.schema._schema,  # graphql-core's schema, as Strawberry's own rules read it
                context.graphql_document,
                context.operation_name,
                context.variables,
            )
            if cost > self.max_cost:
                # A result set here is what Strawberry answers instead of executing.
                context.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"The query may read the services {cost} times; the limit is "
                            f"{self.max_cost}. Ask for fewer items or fields.",
                            extensions={
                                "code": "QUERY_TOO_COSTLY",
                                "cost": cost,
                                "max_cost": self.max_cost,
                            },
                        )
                    ],
                )
        yield
