"""docs/asyncapi.yaml, the AsyncAPI document of every command and event: generated from the code
and current, complete (every contract in the code is a message, every message is a contract) and
valid for the official AsyncAPI parser (@asyncapi/parser, run with Node: tools/asyncapi/).
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import pkgutil
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import tradewind
from tradewind.common.broker import Topology, declared_types
from tradewind.common.contracts import Contract, Quote
from tradewind.orders.handlers.commands import OrderCommandHandler
from tradewind.orders.handlers.jobs import StatementJobs

ROOT = Path(__file__).resolve().parents[3]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
TOOLS = ROOT / "tools" / "asyncapi"
VALIDATOR = TOOLS / "validate.mjs"
PARSER = TOOLS / "node_modules" / "@asyncapi" / "parser" / "package.json"
INSTALL_PARSER = "`make asyncapi-parser` (npm ci --prefix tools/asyncapi --ignore-scripts)"
SCHEMAS = "#/components/schemas/"
# Every command the orders service consumes: orders' own, and the job commands.
COMMANDS = (*OrderCommandHandler.TAKES, *declared_types(StatementJobs))


@functools.cache
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "asyncapi_document", TOOLS / "asyncapi_document.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@functools.cache
def committed() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return document


# --- fresh ---


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOCUMENT.read_text() == generator().document_text(), (
        f"docs/asyncapi.yaml is stale: regenerate it with `{generator().REGENERATE}`"
    )


def test_check_mode_fails_on_a_stale_document_and_passes_once_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = generator()
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text(DOCUMENT.read_text().replace("orders.place", "orders.placed"))
    monkeypatch.setattr(module, "DOCUMENT", stale)

    assert module.main(["--check"]) == 1
    assert module.REGENERATE in capsys.readouterr().err
    assert module.main(["--write"]) == 0
    assert module.main(["--check"]) == 0


# --- complete: the document and the contracts agree ---


def _every_module() -> Iterator[str]:
    for module in pkgutil.walk_packages(tradewind.__path__, "tradewind."):
        if not module.name.endswith("__main__"):
            yield module.name


def _subclasses(cls: type[Contract]) -> Iterator[type[Contract]]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


@functools.cache
def contracts_in_code() -> dict[str, type[Contract]]:
    """Every contract with a type anywhere in the code (services' own included), by type."""
    for name in _every_module():
        importlib.import_module(name)
    found: dict[str, type[Contract]] = {}
    for contract in _subclasses(Contract):
        # Tests define contracts of their own; a shared base (OrderFill) names no type.
        if contract.__module__.startswith("tradewind.") and "TYPE" in vars(contract):
            assert contract.TYPE not in found, f"two contracts have the type {contract.TYPE}"
            found[contract.TYPE] = contract
    return found


def test_every_contract_in_the_code_is_published_or_said_not_to_be() -> None:
    module = generator()
    published = {publication.contract for publication in module.PUBLICATIONS}
    not_published = set(module.NOT_PUBLISHED)
    assert not published & not_published
    forgotten = {
        contract.TYPE
        for contract in contracts_in_code().values()
        if contract not in published | not_published
    }
    assert forgotten == set(), (
        f"{sorted(forgotten)}: say who publishes it in PUBLICATIONS "
        "(tools/asyncapi/asyncapi_document.py), or why nobody does in NOT_PUBLISHED, then "
        f"regenerate: `{module.REGENERATE}`"
    )


def _messages() -> dict[str, dict[str, Any]]:
    messages: dict[str, dict[str, Any]] = committed()["components"]["messages"]
    return messages


def _published() -> dict[str, type[Contract]]:
    not_published = set(generator().NOT_PUBLISHED)
    return {
        type_: contract
        for type_, contract in contracts_in_code().items()
        if contract not in not_published
    }


def test_every_message_is_a_contract_and_every_published_contract_a_message() -> None:
    by_type = {message["name"]: message for message in _messages().values()}
    assert len(by_type) == len(_messages()), "two messages share a type"
    without_message = sorted(set(_published()) - set(by_type))
    without_contract = sorted(set(by_type) - set(_published()))
    assert (without_message, without_contract) == ([], []), (
        f"contracts without a message: {without_message}; "
        f"messages without a contract: {without_contract}"
    )
    for type_, message in by_type.items():
        contract = _published()[type_]
        assert message["title"] == contract.__name__
        assert message["bindings"]["amqp"]["messageType"] == type_
        assert message["contentType"] == "application/cloudevents+json"


def _resolve(reference: str) -> Any:
    assert reference.startswith("#/"), reference
    node: Any = committed()
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_each_payload_is_a_cloudevent_carrying_its_contract_as_pydantic_describes_it() -> None:
    schemas = committed()["components"]["schemas"]
    for message in _messages().values():
        contract = _published()[message["name"]]
        envelope, narrowed = message["payload"]["allOf"]
        assert envelope == {"$ref": f"{SCHEMAS}CloudEvent"}
        assert narrowed["properties"]["type"] == {"const": contract.TYPE}
        data = _resolve(narrowed["properties"]["data"]["$ref"])
        expected = contract.model_json_schema(
            mode="serialization", ref_template=SCHEMAS + "{model}"
        )
        definitions = expected.pop("$defs", {})
        assert data == expected, f"{contract.TYPE}: the payload schema is not the contract's"
        for name, definition in definitions.items():
            assert schemas[name] == definition, f"{contract.TYPE}: {name} differs"


def test_commands_and_events_are_on_their_exchanges_under_their_routing_keys() -> None:
    topology = Topology("tradewind")
    commands = {contract.TYPE for contract in COMMANDS}
    for channel in committed()["channels"].values():
        (reference,) = channel["messages"].values()
        type_ = _resolve(reference["$ref"])["name"]
        exchange = _resolve(channel["bindings"]["$ref"])["amqp"]["exchange"]
        assert exchange["type"] == "topic"
        assert exchange["durable"] is True
        expected = topology.commands if type_ in commands else topology.events
        assert exchange["name"] == expected, type_
        routing_key = "market.quote.{symbol}" if type_ == Quote.TYPE else type_
        assert channel["address"] == routing_key


def test_every_channel_has_a_publisher_and_commands_a_consumer() -> None:
    operations = committed()["operations"].values()
    for channel_id in committed()["channels"]:
        actions = {
            operation["action"]
            for operation in operations
            if operation["channel"]["$ref"] == f"#/channels/{channel_id}"
        }
        assert "send" in actions, f"nobody publishes {channel_id}"
    for contract in COMMANDS:
        assert f"orders.consumes.{contract.TYPE}" in committed()["operations"]


# --- valid for the official parser ---


def _drop_an_operations_action(document: dict[str, Any]) -> None:
    del document["operations"]["orders.consumes.orders.place"]["action"]


def _misspell_a_payload_type(document: dict[str, Any]) -> None:
    document["components"]["schemas"]["PlaceOrder"]["properties"]["qty"]["type"] = "strin"


def _dangle_a_reference(document: dict[str, Any]) -> None:
    payload = document["components"]["messages"]["CancelOrder"]["payload"]
    payload["allOf"][1]["properties"]["data"]["$ref"] = f"{SCHEMAS}NoSuchContract"


def _take_another_channels_message(document: dict[str, Any]) -> None:
    operation = document["operations"]["orders.consumes.orders.replace"]
    operation["messages"] = [{"$ref": "#/channels/orders.cancel/messages/CancelOrder"}]


def _invent_an_exchange_type(document: dict[str, Any]) -> None:
    bindings = document["components"]["channelBindings"]["commands-exchange"]
    bindings["amqp"]["exchange"]["type"] = "topics"


# One way to break the document per layer of the parser's validation (the AsyncAPI schema, the
# payload schemas, references, the specification's own rules, the AMQP bindings' schema), each
# with where the parser must report it. All in one copy: the parser reports each where it is,
# and one Node run for everything keeps the test fast.
BREAKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "operations/orders.consumes.orders.place": _drop_an_operations_action,
    "components/schemas/PlaceOrder/properties/qty/type": _misspell_a_payload_type,
    "components/messages/CancelOrder/payload/allOf/1/properties/data/$ref": _dangle_a_reference,
    "operations/orders.consumes.orders.replace/messages/0": _take_another_channels_message,
    "components/channelBindings/commands-exchange/amqp/exchange/type": _invent_an_exchange_type,
}


@dataclass(frozen=True)
class Validation:
    """What the parser said about the committed document and the broken copy, in one run."""

    broken: Path
    returncode: int
    report: str

    def diagnostics(self, document: Path, severity: str) -> list[str]:
        """Where the parser reported diagnostics of ``severity`` in ``document``."""
        prefix = f"{document}: {severity} "
        return [
            line.removeprefix(prefix).split(" at ", 1)[1].split(": ", 1)[0]
            for line in self.report.splitlines()
            if line.startswith(prefix)
        ]


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory) -> Validation:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (20 or later) is needed to validate docs/asyncapi.yaml: install it")
    if not PARSER.is_file():
        pytest.fail(f"The AsyncAPI parser is not installed: run {INSTALL_PARSER}")
    document = copy.deepcopy(committed())
    for breaking in BREAKS.values():
        breaking(document)
    broken = tmp_path_factory.mktemp("asyncapi") / "broken.yaml"
    broken.write_text(yaml.safe_dump(document, sort_keys=False))
    result = subprocess.run(
        [node, str(VALIDATOR), str(DOCUMENT), str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Validation(broken, result.returncode, result.stdout + result.stderr)


def test_the_document_is_valid_for_the_official_asyncapi_parser(validation: Validation) -> None:
    assert f"{DOCUMENT}: valid AsyncAPI 3.0.0" in validation.report, validation.report
    assert validation.diagnostics(DOCUMENT, "error") == [], validation.report
    # Warnings too: the document is generated, so a warning is ours to fix.
    assert validation.diagnostics(DOCUMENT, "warning") == [], validation.report


def test_the_parser_reports_each_way_the_document_can_break(validation: Validation) -> None:
    assert validation.returncode == 1, validation.report
    assert f"{validation.broken}: valid" not in validation.report
    reported = validation.diagnostics(validation.broken, "error")
    missed = [where for where in BREAKS if where not in reported]
    assert missed == [], validation.report
