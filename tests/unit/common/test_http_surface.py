"""Every service's HTTP surface: security headers, request ids, metrics, deprecation headers,
offline API docs."""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Response
from prometheus_client import REGISTRY

from tradewind.common.deprecation import deprecated
from tradewind.common.settings import SharedSettings
from unit.common.service_apps import served, service_app

router = APIRouter()
SINCE = datetime(2026, 7, 1, tzinfo=UTC)
SUNSET = datetime(2027, 1, 1, tzinfo=UTC)
PAGE = "default-src 'self'"


@router.get("/current")
async def current() -> dict[str, str]:
    return {"route": "current"}


@router.get(
    "/old",
    **deprecated(since=SINCE, sunset=SUNSET, link="https://docs.example.com/migrate"),
)
async def old() -> dict[str, str]:
    return {"route": "old"}


@router.get("/page")
async def page() -> Response:
    return Response("<p>hi</p>", media_type="text/html", headers={"Content-Security-Policy": PAGE})


def surface_app(**shared: object) -> FastAPI:
    settings = SharedSettings(max_request_bytes=1_024, **shared)  # type: ignore[arg-type]
    return service_app(router, title="Test API", shared=settings)


def client(app: FastAPI) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    return served(app, base_url="http://svc.test")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/current", 200),
        ("GET", "/nowhere", 404),
        ("POST", "/current", 405),
        ("GET", "/health/live", 200),
        ("GET", "/openapi.json", 200),
    ],
)
async def test_every_answer_carries_the_security_headers(
    method: str, path: str, status: int
) -> None:
    async with client(surface_app()) as http:
        response = await http.request(method, path)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )
    assert "strict-transport-security" not in response.headers  # off unless configured


async def test_a_refused_body_carries_them_too() -> None:
    async with client(surface_app()) as http:
        response = await http.post("/current", content=b"x" * 2_000)
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_valid_request_id_is_echoed_and_any_other_is_replaced() -> None:
    async with client(surface_app()) as http:
        kept = await http.get("/current", headers={"X-Request-ID": "client-7:a.b"})
        replaced = await http.get("/current", headers={"X-Request-ID": "bad id;" + "x" * 200})
        generated = await http.get("/current")
    assert kept.headers.get_list("x-request-id") == ["client-7:a.b"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert replaced.headers["x-request-id"] != generated.headers["x-request-id"]


async def test_requests_are_counted_by_route_template_and_status() -> None:
    def served_so_far(route: str, status: str) -> float:
        value = REGISTRY.get_sample_value(
            "tradewind_http_requests_total", {"method": "GET", "route": route, "status": status}
        )
        return value or 0.0

    before = served_so_far("/current", "200"), served_so_far("unmatched", "404")
    async with client(surface_app()) as http:
        await http.get("/current")
        await http.get("/current")
        await http.get("/nowhere")
    after = served_so_far("/current", "200"), served_so_far("unmatched", "404")
    assert (after[0] - before[0], after[1] - before[1]) == (2.0, 1.0)


async def test_a_page_with_its_own_policy_keeps_it_alone() -> None:
    """Two policies would both apply: the API's would block the page's styles and scripts."""
    async with client(surface_app()) as http:
        response = await http.get("/page")
    assert response.headers.get_list("content-security-policy") == [PAGE]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_strict_transport_security_is_a_setting() -> None:
    async with client(surface_app(hsts_max_age_s=31_536_000)) as http:
        response = await http.get("/current")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_a_deprecated_route_says_since_when_and_until_when() -> None:
    async with client(surface_app()) as http:
        old_answer = await http.get("/old")
        current_answer = await http.get("/current")
        document = (await http.get("/openapi.json")).json()
    assert old_answer.status_code == 200
    assert old_answer.headers["deprecation"] == f"@{int(SINCE.timestamp())}"
    assert parsedate_to_datetime(old_answer.headers["sunset"]) == SUNSET
    assert old_answer.headers["link"] == (
        '<https://docs.example.com/migrate>; rel="deprecation sunset"'
    )
    for header in ("deprecation", "sunset", "link"):
        assert header not in current_answer.headers
    assert document["paths"]["/old"]["get"]["deprecated"] is True
    assert "deprecated" not in document["paths"]["/current"]["get"]


def test_a_sunset_before_the_deprecation_is_refused() -> None:
    with pytest.raises(ValueError, match="sunset"):
        deprecated(since=SUNSET, sunset=SINCE)


_REFERENCES = re.compile(r"""(?:src|href)=["']([^"']+)["']|url: ['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_api_reference_is_served_by_the_service_itself(page: str) -> None:
    """Every asset the page loads comes from this host, and its policy allows no other host."""
    async with client(surface_app()) as http:
        response = await http.get(page)
        assert response.status_code == 200
        html = response.text
        references = [a or b for a, b in _REFERENCES.findall(html)]
        references += re.findall(r'spec-url="([^"]+)"', html)
        assert any(ref.endswith(".js") for ref in references), references
        assert any(ref.endswith("openapi.json") for ref in references), references
        for reference in references:
            url = urljoin(str(response.url), reference)
            assert urlsplit(url).netloc == "svc.test", f"{page} loads {reference} from elsewhere"
            asset = await http.get(url)
            assert asset.status_code == 200, reference
            assert asset.content, reference
    [policy] = response.headers.get_list("content-security-policy")
    assert "http" not in policy
    assert "frame-ancestors 'none'" in policy
    for directive in policy.split(";"):
        name, *sources = directive.split()
        if name in ("script-src", "connect-src", "img-src"):
            # This host, inline scripts only by hash, images also inline (data:).
            assert set(sources) - {"'self'", "data:"} <= {
                s for s in sources if s.startswith("'sha256-")
            }, directive
