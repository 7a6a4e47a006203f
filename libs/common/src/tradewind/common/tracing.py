"""OpenTelemetry: one tracer provider per process, OTLP export only when configured."""

from __future__ import annotations

import logging
from importlib.util import find_spec

from opentelemetry import trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class TracingSettings(BaseSettings):
    """The standard OpenTelemetry variables (no prefix)."""

    model_config = SettingsConfigDict(extra="ignore")

    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint, e.g. http://localhost:4318; unset: nothing is exported.",
    )
    otel_sdk_disabled: bool = Field(
        default=False, description="Turn the OpenTelemetry SDK off entirely (no trace context)."
    )
    otel_traces_sampler: str | None = Field(
        default=None,
        description="Standard sampler name (e.g. parentbased_traceidratio); default: record every "
        "span when exporting, none otherwise.",
    )


_configured = False
_recording = False


def spans_recorded() -> bool:
    """Whether spans can be recorded in this process (an exporter or a sampler is configured).

    When not, code that would open a span only to carry context skips the span and keeps the
    context: trace ids still flow, and no span object is made for nobody.
    """
    return _recording


def service_resource(service: str, *, version: str, environment: str) -> Resource:
    """What every span of this process says about where it comes from: the service, its release
    and the deployment, so an operator can tell a canary's spans from the rest. The standard
    ``OTEL_RESOURCE_ATTRIBUTES`` variable still overrides any of them (a platform's own labels
    win over the service's defaults)."""
    ours = Resource.create(
        {
            "service.name": service,
            "service.namespace": "tradewind",
            "service.version": version,
            "deployment.environment.name": environment,
        }
    )
    return ours.merge(OTELResourceDetector().detect())


def configure_tracing(
    service: str,
    settings: TracingSettings | None = None,
    *,
    version: str = "unknown",
    environment: str = "development",
) -> None:
    """Install the SDK provider and the library instrumentations, once per process.

    Spans are always created (so trace context flows through HTTP, AMQP and the outbox even with no
    collector); they are exported only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
    """
    global _configured, _recording
    if _configured:
        return
    _configured = True
    settings = settings or TracingSettings()
    if settings.otel_sdk_disabled:
        return
    # With nowhere to send spans, recording them is pure cost (a span per SQL statement adds up).
    # A dropping sampler still gives every span a context: trace ids keep flowing through HTTP,
    # AMQP, the outbox and the logs. OTEL_TRACES_SAMPLER, when set, decides instead.
    exporting = bool(settings.otel_exporter_otlp_endpoint)
    _recording = exporting or bool(settings.otel_traces_sampler)
    sampler = None if _recording else ALWAYS_OFF
    provider = TracerProvider(
        resource=service_resource(service, version=version, environment=environment),
        sampler=sampler,
    )
    if exporting:
        assert settings.otel_exporter_otlp_endpoint is not None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        log.info("exporting traces", extra={"otlp_endpoint": endpoint})
    trace.set_tracer_provider(provider)
    # The HTTP clients' instrumentations carry the trace to the services we call: always on.
    # No aio-pika instrumentation: the broker client makes its own messaging spans (broker.spans).
    # Each client only where the service installs it (a service installs what it uses).
    if _installed("aiohttp", "opentelemetry.instrumentation.aiohttp_client"):
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

        AioHttpClientInstrumentor().instrument()
    if _installed("httpx", "opentelemetry.instrumentation.httpx"):
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument()
    if not _recording or not _installed("redis", "opentelemetry.instrumentation.redis"):
        # Without recorded spans the Redis instrumentation adds nothing but its spans' cost
        # (with aio-pika's, about 0.2 ms of gateway CPU per POST /api/v1/orders).
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument()


def _installed(*modules: str) -> bool:
    return all(find_spec(module) is not None for module in modules)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
