"""deploy/k8s: every manifest is a valid Kubernetes object, and the manifests agree with each other
and with the code.

Built-in kinds are validated with kubernetes-validate against the official schemas it bundles
(offline), in strict mode, so an unknown or misspelt field is an error, not something the API
server drops without a word. The RabbitmqCluster is validated against the part of the operator's
CRD these manifests use (RABBITMQ_CLUSTER_SCHEMA below). Then what no schema sees: references
between objects (ConfigMaps, Secrets, Services, autoscalers, disruption budgets, the Ingress),
probes and the shutdown sequence, the environment variables against README.md's configuration
table, and the queues the autoscalers measure. Each check returns its problems as text; the last
test breaks a copy of the manifests in one way per check and shows that each is caught.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tradewind.common.broker.catalog import CONSUMED_QUEUES, consumed_queues

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"

# The oldest Kubernetes release the manifests are meant for, and the newest kubernetes-validate
# bundles: a field that does not exist yet in the first, or no longer in the second, is an error.
KUBERNETES_VERSIONS = ("1.33", "1.37")

SERVICES = ("gateway", "orders", "market-data", "webhooks", "health")
# Services with a database, hence a migration Job.
DATABASE_OWNERS = ("gateway", "orders", "market-data", "webhooks")
# The queues each consuming service reads, named <TRADEWIND_NAMESPACE>.<service>.<purpose> by
# Topology.queue_name; the purposes are string constants in these files (checked below).
# Service -> the purposes of the queues it consumes, from the shared catalog (which
# tests/unit/common/test_queue_catalog.py holds to the services' own declarations).
CONSUMER_QUEUES: dict[str, tuple[str, ...]] = {
    service: tuple(queue.purpose for queue in consumed_queues(service))
    for service in dict.fromkeys(queue.service for queue in CONSUMED_QUEUES)
}
QUEUE_DEPTH_METRIC = "rabbitmq_queue_messages_ready"
DEFAULT_SHUTDOWN_GRACE_S = 10.0  # SharedSettings.shutdown_grace_s
RABBITMQ_PORTS = {5672, 15672, 15692}  # AMQP, management, Prometheus on the operator's Service
PLACEHOLDER = "REPLACE_ME"
# An upgrade applies the objects with these labels before the rest (deploy/k8s/README.md).
COMPONENT = "app.kubernetes.io/component"
FIRST_APPLIED = {
    "Namespace": "config",
    "ConfigMap": "config",
    "Secret": "config",
    "Job": "migration",
}

# The fields of the RabbitMQ Cluster Operator's CRD (rabbitmq.com/v1beta1, RabbitmqCluster) that
# these manifests may use, with the CRD's types; anything else under spec is refused, as the
# strict built-in schemas do (the API server would prune an unknown field silently).
_QUANTITY = {
    "anyOf": [
        {"type": "integer"},
        {
            "type": "string",
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
            r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
        },
    ]
}
_RESOURCE_LIST = {"type": "object", "additionalProperties": _QUANTITY}
RABBITMQ_CLUSTER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "rabbitmq.com/v1beta1"},
        "kind": {"const": "RabbitmqCluster"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "replicas": {"type": "integer", "minimum": 0},
                "image": {"type": "string"},
                "imagePullSecrets": {"type": "array", "items": {"type": "object"}},
                "resources": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"limits": _RESOURCE_LIST, "requests": _RESOURCE_LIST},
                },
                "persistence": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"storageClassName": {"type": "string"}, "storage": _QUANTITY},
                },
                "rabbitmq": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "additionalConfig": {"type": "string", "maxLength": 100_000},
                        "advancedConfig": {"type": "string", "maxLength": 100_000},
                        "envConfig": {"type": "string", "maxLength": 100_000},
                        "additionalPlugins": {
                            "type": "array",
                            "maxItems": 100,
                            "items": {"type": "string", "pattern": r"^\w+$", "maxLength": 100},
                        },
                    },
                },
                "service": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": ["ClusterIP", "LoadBalancer", "NodePort"]},
                        "annotations": {"type": "object"},
                        "labels": {"type": "object"},
                    },
                },
                "affinity": {"type": "object"},
                "tolerations": {"type": "array", "items": {"type": "object"}},
                "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
                "delayStartSeconds": {"type": "integer", "minimum": 0},
                "override": {"type": "object"},
                "tls": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "secretName": {"type": "string"},
                        "caSecretName": {"type": "string"},
                        "disableNonTLSListeners": {"type": "boolean"},
                    },
                },
            },
        },
    },
}
CUSTOM_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): RABBITMQ_CLUSTER_SCHEMA,
}

Doc = dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    file: str
    doc: Doc

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind"))

    @property
    def name(self) -> str:
        return str(self.doc.get("metadata", {}).get("name"))

    def __str__(self) -> str:
        return f"{self.file}: {self.kind} {self.name}"


def load_manifests(directory: Path = K8S) -> list[Manifest]:
    manifests = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                manifests.append(Manifest(path.name, doc))
    return manifests


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind]


def named(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m.name: m for m in of_kind(manifests, kind)}


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m.kind in ("Deployment", "Job")]


def pod_spec(workload: Manifest) -> Doc:
    spec: Doc = workload.doc["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Manifest) -> dict[str, str]:
    labels: dict[str, str] = workload.doc["spec"]["template"]["metadata"].get("labels", {})
    return labels


def containers(workload: Manifest) -> list[Doc]:
    spec = pod_spec(workload)
    found: list[Doc] = [*spec.get("initContainers", []), *spec["containers"]]
    return found


def service_of(container: Doc) -> str:
    """Which service a container runs: its image is tradewind-<service> (kustomize names it)."""
    return str(container.get("image", "")).removeprefix("tradewind-")


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    match: dict[str, str] = selector.get("matchLabels", selector)
    return bool(match) and all(labels.get(key) == value for key, value in match.items())


def secret_data(secret: Manifest) -> dict[str, str]:
    data: dict[str, str] = {**secret.doc.get("data", {}), **secret.doc.get("stringData", {})}
    return data


def source_data(manifests: list[Manifest], reference: str, name: str) -> dict[str, str] | None:
    """The keys and values of the ConfigMap or Secret a reference names; None if undefined."""
    if reference in ("configMapRef", "configMapKeyRef"):
        config_map = named(manifests, "ConfigMap").get(name)
        return None if config_map is None else dict(config_map.doc.get("data", {}))
    secret = named(manifests, "Secret").get(name)
    return None if secret is None else secret_data(secret)


def container_env(manifests: list[Manifest], container: Doc) -> dict[str, str]:
    """The environment a container gets from its manifests (a missing source adds nothing)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        for reference, target in source.items():
            if reference in ("configMapRef", "secretRef"):
                env.update(source_data(manifests, reference, target["name"]) or {})
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
        for reference, target in variable.get("valueFrom", {}).items():
            if reference in ("configMapKeyRef", "secretKeyRef"):
                data = source_data(manifests, reference, target["name"]) or {}
                if target["key"] in data:
                    env[variable["name"]] = data[target["key"]]
    return env


def readme_settings() -> dict[str, str]:
    """Every variable of README.md's configuration table -> the service it belongs to ('' for
    every service)."""
    settings = {}
    row = re.compile(r"^\| (?P<section>[^|]+?) \| `(?P<name>[A-Z][A-Z0-9_]*)` \|")
    for line in (ROOT / "README.md").read_text().splitlines():
        if match := row.match(line):
            section = match["section"]
            settings[match["name"]] = "" if section.startswith("every service") else section
    return settings


# --- The checks ---------------------------------------------------------------------------------


def schema_problems(manifests: list[Manifest]) -> list[str]:
    return [
        f"{manifest}: {problem}"
        for manifest in manifests
        for problem in _schema_problems(json.dumps(manifest.doc, sort_keys=True))
    ]


@functools.cache
def _schema_problems(document: str) -> tuple[str, ...]:
    """One document's problems, by its JSON text: a copy with one document broken revalidates only
    that one (each validation reads the version's definitions, 1.4 MB)."""
    doc = json.loads(document)
    custom = CUSTOM_SCHEMAS.get((str(doc.get("apiVersion")), str(doc.get("kind"))))
    if custom is not None:
        validator = jsonschema.Draft202012Validator(custom)
        return tuple(
            f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(doc)
        )
    problems = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"Kubernetes {version}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{error.message} (add its schema to CUSTOM_SCHEMAS)")
    return tuple(problems)


def kustomization_problems(manifests: list[Manifest], directory: Path = K8S) -> list[str]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    listed = set(kustomization.get("resources", []))
    present = {m.file for m in manifests}
    problems = [f"kustomization.yaml lists {f}, which does not exist" for f in listed - present]
    problems += [f"kustomization.yaml does not list {f}" for f in present - listed]
    images = {image["name"] for image in kustomization.get("images", [])}
    for workload in workloads(manifests):
        for container in containers(workload):
            if container["image"] not in images:
                problems.append(
                    f"{workload}: image {container['image']} has no entry in kustomization.yaml"
                )
    return problems


def _grace_s(env: dict[str, str]) -> float:
    return float(env.get("TRADEWIND_SHUTDOWN_GRACE_S", DEFAULT_SHUTDOWN_GRACE_S))


def _pre_stop_s(container: Doc) -> float | None:
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = pre_stop.get("exec", {}).get("command", [])
    if len(command) == 2 and command[0] == "sleep":
        return float(command[1])
    return None


def pod_problems(manifests: list[Manifest]) -> list[str]:
    """Probes, the shutdown sequence, resources and security of every pod."""
    problems = []
    for workload in workloads(manifests):
        spec = pod_spec(workload)
        if spec.get("securityContext", {}).get("runAsNonRoot") is not True:
            problems.append(f"{workload}: the pod does not require runAsNonRoot")
        for container in containers(workload):
            where = f"{workload}: container {container['name']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problems.append(f"{where}: no {resource} in resources.{bound}")
            security = container.get("securityContext", {})
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: the root filesystem is writable")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation is allowed")
            if "ALL" not in security.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities are not all dropped")
            if workload.kind != "Deployment":
                continue
            ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
            for probe, path in (
                ("readinessProbe", "/health/ready"),
                ("livenessProbe", "/health/live"),
            ):
                get = container.get(probe, {}).get("httpGet")
                if get is None or get.get("path") != path:
                    problems.append(f"{where}: no {probe} on GET {path}")
                elif get.get("port") not in ports and get.get("port") not in ports.values():
                    problems.append(f"{where}: {probe} probes port {get.get('port')}, not served")
            pre_stop = _pre_stop_s(container)
            if pre_stop is None:
                problems.append(f"{where}: no preStop hook that sleeps")
                continue
            env = container_env(manifests, container)
            needed = pre_stop + 3 * _grace_s(env)
            grace_period = spec.get("terminationGracePeriodSeconds", 30)
            if grace_period <= needed:
                problems.append(
                    f"{workload}: terminationGracePeriodSeconds {grace_period} is not above "
                    f"preStop {pre_stop:g} s + 3 x TRADEWIND_SHUTDOWN_GRACE_S = {needed:g} s"
                )
    return problems


def _matches_one_workload(
    manifests: list[Manifest], selector: Doc, what: str
) -> tuple[list[Manifest], list[str]]:
    if "matchExpressions" in selector:
        return [], [f"{what}: matchExpressions, which this test does not evaluate"]
    chosen = [w for w in workloads(manifests) if selects(selector, pod_labels(w))]
    deployments = [w for w in chosen if w.kind == "Deployment"]
    problems = [f"{what} also selects the pods of {w}" for w in chosen if w.kind != "Deployment"]
    if len(deployments) != 1:
        names = ", ".join(d.name for d in deployments) or "none"
        problems.append(f"{what} selects the pods of one Deployment, not: {names}")
    return deployments, problems


def _desired_replicas(manifests: list[Manifest], deployment: Manifest) -> int:
    for hpa in of_kind(manifests, "HorizontalPodAutoscaler"):
        if hpa.doc["spec"]["scaleTargetRef"]["name"] == deployment.name:
            return int(hpa.doc["spec"].get("minReplicas", 1))
    return int(deployment.doc["spec"].get("replicas", 1))


_KIND_OF = {
    "configMapRef": "ConfigMap",
    "configMapKeyRef": "ConfigMap",
    "secretRef": "Secret",
    "secretKeyRef": "Secret",
}


def reference_problems(manifests: list[Manifest]) -> list[str]:
    problems = []
    deployments, services = named(manifests, "Deployment"), named(manifests, "Service")
    used: set[tuple[str, str]] = set()

    for workload in workloads(manifests):
        for container in containers(workload):
            where = f"{workload}: container {container['name']}"
            for source in container.get("envFrom", []):
                for reference, target in source.items():
                    if reference not in ("configMapRef", "secretRef"):
                        continue
                    used.add((_KIND_OF[reference], target["name"]))
                    if source_data(manifests, reference, target["name"]) is None:
                        problems.append(f"{where}: {reference} {target['name']} is not defined")
            for variable in container.get("env", []):
                for reference, target in variable.get("valueFrom", {}).items():
                    if reference not in ("configMapKeyRef", "secretKeyRef"):
                        continue
                    used.add((_KIND_OF[reference], target["name"]))
                    data = source_data(manifests, reference, target["name"]) or {}
                    if target["key"] not in data:
                        problems.append(
                            f"{where}: {reference} {target['name']}/{target['key']} is not defined"
                        )
        for volume in pod_spec(workload).get("volumes", []):
            if "configMap" in volume:
                used.add(("ConfigMap", volume["configMap"]["name"]))
                if source_data(manifests, "configMapRef", volume["configMap"]["name"]) is None:
                    problems.append(f"{workload}: volume {volume['name']}: no such ConfigMap")
            if "secret" in volume:
                used.add(("Secret", volume["secret"]["secretName"]))
                if source_data(manifests, "secretRef", volume["secret"]["secretName"]) is None:
                    problems.append(f"{workload}: volume {volume['name']}: no such Secret")
    for kind in ("ConfigMap", "Secret"):
        for name in set(named(manifests, kind)) - {n for k, n in used if k == kind}:
            problems.append(f"{kind} {name} is used by no pod")

    for service in services.values():
        chosen, found = _matches_one_workload(
            manifests, service.doc["spec"].get("selector", {}), f"{service}"
        )
        problems += found
        served = {
            port["name"]
            for deployment in chosen
            for container in containers(deployment)
            for port in container.get("ports", [])
        }
        for port in service.doc["spec"]["ports"]:
            if isinstance(port.get("targetPort"), str) and port["targetPort"] not in served:
                problems.append(f"{service}: targetPort {port['targetPort']} is no container port")

    for hpa in of_kind(manifests, "HorizontalPodAutoscaler"):
        target = hpa.doc["spec"]["scaleTargetRef"]
        if target.get("kind") != "Deployment" or target.get("name") not in deployments:
            problems.append(f"{hpa}: targets {target.get('kind')} {target.get('name')}, undefined")
        elif "replicas" in deployments[target["name"]].doc["spec"]:
            problems.append(f"{hpa}: its Deployment sets replicas, which every apply would reset")

    budgets: set[str] = set()
    for pdb in of_kind(manifests, "PodDisruptionBudget"):
        chosen, found = _matches_one_workload(manifests, pdb.doc["spec"]["selector"], f"{pdb}")
        problems += found
        budgets.update(d.name for d in chosen)
    for deployment in deployments.values():
        if _desired_replicas(manifests, deployment) > 1 and deployment.name not in budgets:
            problems.append(f"{deployment}: more than one replica, no PodDisruptionBudget")

    for ingress in of_kind(manifests, "Ingress"):
        for rule in ingress.doc["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]
                port = backend["port"].get("name", backend["port"].get("number"))
                routed = services.get(backend["name"])
                ports = (
                    set()
                    if routed is None
                    else {p.get("name") for p in routed.doc["spec"]["ports"]}
                    | {p["port"] for p in routed.doc["spec"]["ports"]}
                )
                if port not in ports:
                    problems.append(f"{ingress}: backend {backend['name']}:{port} is undefined")

    problems += _url_problems(manifests, services)
    return problems


_URL = re.compile(
    r"\b[a-z][a-z0-9+.-]*://(?:[^@/\s\"']*@)?(?P<host>[A-Za-z0-9_.-]+)(?::(?P<port>\d+))?"
)


def _url_problems(manifests: list[Manifest], services: dict[str, Manifest]) -> list[str]:
    """A URL to a bare host name in a ConfigMap or Secret names a Service of these manifests and
    one of its ports (or the RabbitmqCluster, or is a placeholder)."""
    problems = []
    clusters = set(named(manifests, "RabbitmqCluster"))
    for manifest in [*of_kind(manifests, "ConfigMap"), *of_kind(manifests, "Secret")]:
        values = (
            manifest.doc.get("data", {}) if manifest.kind == "ConfigMap" else secret_data(manifest)
        )
        for key, value in values.items():
            for match in _URL.finditer(str(value)):
                host, port = match["host"], match["port"]
                if "." in host or host.startswith(PLACEHOLDER):
                    continue
                if host in clusters:
                    ports = RABBITMQ_PORTS
                elif host in services:
                    ports = {p["port"] for p in services[host].doc["spec"]["ports"]}
                else:
                    problems.append(f"{manifest}: {key} points to {host}, no Service")
                    continue
                if port is not None and int(port) not in ports:
                    problems.append(f"{manifest}: {key} points to {host}:{port}, no such port")
    return problems


def env_problems(manifests: list[Manifest], settings: dict[str, str]) -> list[str]:
    """Every variable a pod gets is a setting of README.md's table, of its own service or of every
    service; each service listens on 0.0.0.0 at its container port."""
    problems = []
    for workload in workloads(manifests):
        for container in containers(workload):
            where = f"{workload}: container {container['name']}"
            service = service_of(container)
            if service not in SERVICES:
                problems.append(f"{where}: image {container.get('image')} is no Tradewind image")
                continue
            env = container_env(manifests, container)
            for name in sorted(env):
                if name not in settings:
                    problems.append(f"{where}: {name} is not in README.md's configuration table")
                elif settings[name] not in ("", service):
                    problems.append(f"{where}: {name} is a setting of {settings[name]}")
            if workload.kind != "Deployment":
                continue
            prefix = "TRADEWIND_" + service.upper().replace("-", "_")
            ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
            if env.get(f"{prefix}_HOST") != "0.0.0.0":
                problems.append(f"{where}: {prefix}_HOST is not 0.0.0.0")
            if env.get(f"{prefix}_PORT") != str(ports.get("http")):
                problems.append(f"{where}: {prefix}_PORT is not the container port http")
            if f"{prefix}_METRICS_PORT" in env and (
                env[f"{prefix}_METRICS_PORT"] != str(ports.get("metrics"))
            ):
                problems.append(f"{where}: {prefix}_METRICS_PORT is not the container port metrics")
    for config_map in of_kind(manifests, "ConfigMap"):
        for key, value in config_map.doc.get("data", {}).items():
            if key.endswith(("_SERVICES", "_URLS", "_DSNS")):
                try:
                    json.loads(value)
                except ValueError:
                    problems.append(f"{config_map}: {key} is not JSON")
    return problems


def secret_problems(manifests: list[Manifest]) -> list[str]:
    """No real secret is committed: every value is a placeholder, readable (stringData)."""
    problems = []
    for secret in of_kind(manifests, "Secret"):
        if secret.doc.get("data"):
            problems.append(f"{secret}: use stringData, so reviewers see what is committed")
        for key, value in secret.doc.get("stringData", {}).items():
            if PLACEHOLDER not in str(value):
                problems.append(f"{secret}: {key} holds a value, not a {PLACEHOLDER} placeholder")
    return problems


def migration_problems(manifests: list[Manifest]) -> list[str]:
    """One Job per database runs upgrade_database with its service's image and database URL."""
    problems = []
    jobs = of_kind(manifests, "Job")
    for service in DATABASE_OWNERS:
        variable = "TRADEWIND_" + service.upper().replace("-", "_") + "_DATABASE_URL"
        running = [
            (job, container)
            for job in jobs
            for container in containers(job)
            if service_of(container) == service
            and f"/app/services/{service}" in " ".join(container.get("command", []))
            and "upgrade_database" in " ".join(container.get("command", []))
        ]
        if len(running) != 1:
            problems.append(f"{service}: {len(running)} migration Jobs, not one")
            continue
        job, container = running[0]
        if variable not in container_env(manifests, container):
            problems.append(f"{job}: {variable} is not set")
        if job.doc["spec"]["template"]["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
            problems.append(f"{job}: restartPolicy must be Never or OnFailure")
    # deploy/k8s/README.md applies these first, selected by label: what the Jobs need, then them.
    for manifest in manifests:
        component = manifest.doc["metadata"].get("labels", {}).get(COMPONENT)
        expected = FIRST_APPLIED.get(manifest.kind)
        if expected is not None and component != expected:
            problems.append(f"{manifest}: label {COMPONENT} is {component}, not {expected}")
    return problems


def autoscaling_problems(manifests: list[Manifest]) -> list[str]:
    """The consumers scale on their queues' depth, the gateway on CPU, the broker has 3 nodes."""
    problems = []
    shared = named(manifests, "ConfigMap").get("tradewind-shared-config")
    namespace = "tradewind" if shared is None else shared.doc["data"]["TRADEWIND_NAMESPACE"]
    hpas = {
        m.doc["spec"]["scaleTargetRef"]["name"]: m
        for m in of_kind(manifests, "HorizontalPodAutoscaler")
    }
    for service, purposes in CONSUMER_QUEUES.items():
        queues = {f"{namespace}.{service}.{purpose}" for purpose in purposes}
        hpa = hpas.get(service)
        if hpa is None:
            problems.append(f"{service}: no HorizontalPodAutoscaler")
            continue
        measured = [
            metric["external"]
            for metric in hpa.doc["spec"].get("metrics", [])
            if metric["type"] == "External"
            and metric["external"]["metric"]["name"] == QUEUE_DEPTH_METRIC
        ]
        if not measured:
            problems.append(f"{hpa}: does not scale on {QUEUE_DEPTH_METRIC}")
        for external in measured:
            queue = external["metric"].get("selector", {}).get("matchLabels", {}).get("queue")
            if queue not in queues:
                problems.append(f"{hpa}: measures queue {queue}, not one of {sorted(queues)}")
    gateway = hpas.get("gateway")
    if gateway is None or not any(
        m["type"] == "Resource" and m["resource"]["name"] == "cpu"
        for m in gateway.doc["spec"].get("metrics", [])
    ):
        problems.append("gateway: no HorizontalPodAutoscaler on CPU")
    clusters = of_kind(manifests, "RabbitmqCluster")
    if len(clusters) != 1 or clusters[0].doc["spec"].get("replicas") != 3:
        problems.append("one RabbitmqCluster of 3 replicas is expected")
    return problems


# --- The tests ----------------------------------------------------------------------------------


def assert_none(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return load_manifests()


@pytest.fixture(scope="module")
def settings() -> dict[str, str]:
    return readme_settings()


def test_every_kind_the_task_needs_is_there(manifests: list[Manifest]) -> None:
    deployments = named(manifests, "Deployment")
    assert set(deployments) == set(SERVICES)
    assert set(named(manifests, "Service")) >= set(SERVICES)
    assert all(
        s.doc["spec"].get("type", "ClusterIP") == "ClusterIP" for s in of_kind(manifests, "Service")
    )
    assert len(of_kind(manifests, "Ingress")) == 1
    assert {m.name for m in of_kind(manifests, "Job")} == {f"migrate-{s}" for s in DATABASE_OWNERS}


def test_every_manifest_is_valid_against_its_schema(manifests: list[Manifest]) -> None:
    assert_none(schema_problems(manifests))


def test_kustomization_lists_every_manifest_and_image(manifests: list[Manifest]) -> None:
    assert_none(kustomization_problems(manifests))


def test_every_pod_has_probes_a_clean_shutdown_resources_and_no_privileges(
    manifests: list[Manifest],
) -> None:
    assert_none(pod_problems(manifests))


def test_every_reference_names_something_defined(manifests: list[Manifest]) -> None:
    assert_none(reference_problems(manifests))


def test_every_variable_is_a_setting_of_its_service(
    manifests: list[Manifest], settings: dict[str, str]
) -> None:
    assert len(settings) > 50  # the table was found
    assert_none(env_problems(manifests, settings))


def test_secrets_hold_placeholders_only(manifests: list[Manifest]) -> None:
    assert_none(secret_problems(manifests))


def test_every_database_is_migrated_by_a_job(manifests: list[Manifest]) -> None:
    assert_none(migration_problems(manifests))


def test_consumers_scale_on_queue_depth_and_the_gateway_on_cpu(manifests: list[Manifest]) -> None:
    assert_none(autoscaling_problems(manifests))


# --- The checks bite ----------------------------------------------------------------------------


def _find(manifests: list[Manifest], kind: str, name: str) -> Doc:
    return named(manifests, kind)[name].doc


def _first_container(manifests: list[Manifest], kind: str, name: str) -> Doc:
    container: Doc = _find(manifests, kind, name)["spec"]["template"]["spec"]["containers"][0]
    return container


def _drop_readiness(m: list[Manifest]) -> None:
    del _first_container(m, "Deployment", "orders")["readinessProbe"]


def _drop_pre_stop(m: list[Manifest]) -> None:
    del _first_container(m, "Deployment", "webhooks")["lifecycle"]


def _short_grace_period(m: list[Manifest]) -> None:
    _find(m, "Deployment", "gateway")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ] = 30


def _misspelt_field(m: list[Manifest]) -> None:
    _first_container(m, "Deployment", "health")["readinessProbes"] = {}


def _misspelt_cluster_field(m: list[Manifest]) -> None:
    _find(m, "RabbitmqCluster", "rabbitmq")["spec"]["replica"] = 3


def _unknown_config_map(m: list[Manifest]) -> None:
    _first_container(m, "Deployment", "orders")["envFrom"][1]["configMapRef"]["name"] = "orders-cfg"


def _unknown_secret_key(m: list[Manifest]) -> None:
    _first_container(m, "Job", "migrate-orders")["env"][0]["valueFrom"]["secretKeyRef"]["key"] = "X"


def _service_selects_nothing(m: list[Manifest]) -> None:
    _find(m, "Service", "orders")["spec"]["selector"]["app.kubernetes.io/name"] = "order"


def _hpa_targets_nothing(m: list[Manifest]) -> None:
    _find(m, "HorizontalPodAutoscaler", "webhooks")["spec"]["scaleTargetRef"]["name"] = "webhook"


def _pdb_selects_nothing(m: list[Manifest]) -> None:
    labels = _find(m, "PodDisruptionBudget", "market-data")["spec"]["selector"]["matchLabels"]
    labels["app.kubernetes.io/name"] = "marketdata"


def _unknown_setting(m: list[Manifest]) -> None:
    _find(m, "ConfigMap", "tradewind-orders-config")["data"]["TRADEWIND_ORDERS_PORTS"] = "8001"


def _setting_of_another_service(m: list[Manifest]) -> None:
    _find(m, "ConfigMap", "tradewind-orders-config")["data"]["TRADEWIND_GATEWAY_PORT"] = "8000"


def _url_to_no_service(m: list[Manifest]) -> None:
    data = _find(m, "ConfigMap", "tradewind-gateway-config")["data"]
    data["TRADEWIND_GATEWAY_ORDERS_URL"] = "http://order:8001"


def _real_secret(m: list[Manifest]) -> None:
    _find(m, "Secret", "tradewind-shared-secrets")["stringData"]["TRADEWIND_INTERNAL_TOKEN"] = "s3"


def _wrong_queue(m: list[Manifest]) -> None:
    metric = _find(m, "HorizontalPodAutoscaler", "orders")["spec"]["metrics"][0]["external"]
    metric["metric"]["selector"]["matchLabels"]["queue"] = "tradewind.orders.command"


def _no_migration(m: list[Manifest]) -> None:
    m.remove(named(m, "Job")["migrate-market-data"])


def _unlabelled_secret(m: list[Manifest]) -> None:
    del _find(m, "Secret", "tradewind-orders-secrets")["metadata"]["labels"][COMPONENT]


def _env_problems(manifests: list[Manifest]) -> list[str]:
    return env_problems(manifests, readme_settings())


Breakage = tuple[Callable[[list[Manifest]], None], Callable[[list[Manifest]], list[str]], str]
BREAKAGES: list[Breakage] = [
    (_drop_readiness, pod_problems, "no readinessProbe on GET /health/ready"),
    (_drop_pre_stop, pod_problems, "no preStop hook"),
    (_short_grace_period, pod_problems, "terminationGracePeriodSeconds 30 is not above"),
    (_misspelt_field, schema_problems, "'readinessProbes' was unexpected"),
    (_misspelt_cluster_field, schema_problems, "'replica' was unexpected"),
    (_unknown_config_map, reference_problems, "configMapRef orders-cfg is not defined"),
    (_unknown_secret_key, reference_problems, "tradewind-orders-secrets/X is not defined"),
    (_service_selects_nothing, reference_problems, "Service orders selects the pods of one"),
    (_hpa_targets_nothing, reference_problems, "targets Deployment webhook, undefined"),
    (_pdb_selects_nothing, reference_problems, "market-data: more than one replica, no Pod"),
    (_url_to_no_service, reference_problems, "points to order, no Service"),
    (_unknown_setting, _env_problems, "TRADEWIND_ORDERS_PORTS is not in README.md's"),
    (_setting_of_another_service, _env_problems, "TRADEWIND_GATEWAY_PORT is a setting of gateway"),
    (_real_secret, secret_problems, "TRADEWIND_INTERNAL_TOKEN holds a value"),
    (_wrong_queue, autoscaling_problems, "measures queue tradewind.orders.command,"),
    (_no_migration, migration_problems, "market-data: 0 migration Jobs"),
    (_unlabelled_secret, migration_problems, "component is None, not config"),
]


def _breakage_id(breakage: Breakage) -> str:
    return breakage[0].__name__.strip("_")


@pytest.mark.parametrize("breakage", BREAKAGES, ids=_breakage_id)
def test_each_check_catches_a_broken_manifest(
    manifests: list[Manifest], breakage: Breakage
) -> None:
    break_, check, expected = breakage
    broken = copy.deepcopy(manifests)
    break_(broken)
    problems = check(broken)
    assert any(expected in problem for problem in problems), problems
