"""The OpenAPI document: valid OpenAPI 3.1, in step with http_api's routes, and true
of every response the real `api` gives (unknown fields included: the test schemas
forbid any field the document does not name)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from functions import http_api, openapi
from functions.errors import InfrastructureUnavailable
from tests.unit.api_harness import Api, api, api_flask_app  # noqa: F401 (fixtures)

DOC = openapi.document()
DOC_URI = "urn:plotburn:openapi"
SWAPPED = object()


def _template(path: str) -> str:
    """/movie/{id} and /movie/<movie_id> both -> /movie/{}."""
    return re.sub(r"\{[^}]+\}|<[^>]+>", "{}", path)


def _strict(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy whose object schemas refuse fields they do not name, so an undocumented
    field in a real response fails the test. Components composed with allOf are left
    open; their composite gets unevaluatedProperties: false instead."""
    doc = copy.deepcopy(doc)
    schemas = doc["components"]["schemas"]
    composed = {
        ref["$ref"].rsplit("/", 1)[1]
        for s in schemas.values()
        for ref in s.get("allOf", [])
        if "$ref" in ref
    }

    def walk(node: Any, inside_all_of: bool = False) -> None:
        if isinstance(node, dict):
            if "allOf" in node:
                node.setdefault("unevaluatedProperties", False)
                for branch in node["allOf"]:
                    walk(branch, inside_all_of=True)
            elif "properties" in node and not inside_all_of:
                node.setdefault("additionalProperties", False)
            for key, value in node.items():
                if key != "allOf":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for name, schema in schemas.items():
        if name not in composed:
            walk(schema)
    walk(doc["paths"])
    return doc


STRICT = _strict(DOC)
REGISTRY = Registry().with_resource(DOC_URI, Resource.from_contents(STRICT, default_specification=DRAFT202012))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _operation(path: str, method: str) -> tuple[str, dict[str, Any]] | None:
    for doc_path, item in STRICT["paths"].items():
        if _template(doc_path) == _template(path) and method.lower() in item:
            return doc_path, item[method.lower()]
    return None


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        _, _, pointer = node["$ref"].partition("#/")
        target: Any = STRICT
        for part in pointer.split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def check_response(template: str, method: str, response: Any) -> None:
    """Validate one real response against the document."""
    status = str(response.status_code)
    found = _operation(template, method)
    body_type = response.mimetype
    if found is None or status == "405":
        # Not an operation of the document: an unknown route or method gets the Error shape.
        assert status in {"404", "405"}, (template, method, status)
        if status == "405":
            assert response.headers.get("Allow")
        schema_ref = f"{DOC_URI}#/components/schemas/Error"
        Draft202012Validator({"$ref": schema_ref}, registry=REGISTRY).validate(response.get_json())
        return
    doc_path, operation = found
    assert status in operation["responses"], f"{method} {doc_path} answered undocumented {status}"
    documented = _resolve(operation["responses"][status])
    assert body_type in documented["content"], (method, doc_path, status, body_type)
    for name, header in documented.get("headers", {}).items():
        if name in {"WWW-Authenticate"}:
            assert response.headers.get(name) == "Bearer"
        if name == "Retry-After" and status in {"202", "429"}:
            assert re.fullmatch(r"[0-9]+", response.headers.get(name, "")), (doc_path, status)
    if body_type != "application/json":
        return
    # Validate through the document itself so $refs resolve exactly as clients see them.
    raw = operation["responses"][status]
    if "$ref" in raw:
        pointer = raw["$ref"].split("#/", 1)[1] + "/" + _pointer("content", body_type, "schema")
    else:
        pointer = _pointer("paths", doc_path, method.lower(), "responses", status, "content", body_type, "schema")
    validator = Draft202012Validator(
        {"$ref": f"{DOC_URI}#/{pointer}"},
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(response.get_json()), key=lambda e: list(e.path))
    assert not errors, f"{method} {template} {status}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
    )


class Recorder:
    """Sends requests through the real api and validates each answer as it comes."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seen: set[tuple[str, str, str]] = set()

    def __call__(
        self,
        method: str,
        path: str,
        template: str | None = None,
        admin: bool = False,
        expect: int | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if admin:
            headers.update(self.api.admin)
        response = self.api.client.open(path, method=method, headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.get_data(as_text=True))
        tmpl = template or path.split("?")[0]
        check_response(tmpl, method, response)
        found = _operation(tmpl, method)
        if found is not None:
            self.seen.add((found[0], method.lower(), str(response.status_code)))
        return response


@pytest.fixture
def call(api: Api) -> Iterator[Recorder]:
    yield Recorder(api)


# ------------------------------------------------------------------ the document


def test_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(DOC).validate()
    OpenAPIV31SpecValidator(STRICT).validate()


def test_every_route_is_documented_and_nothing_else() -> None:
    routes = {
        (_template(rule.rule), method.lower())
        for rule in http_api.ROUTES.iter_rules()
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    documented = {
        (_template(path), method)
        for path, item in DOC["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert routes == documented


def test_admin_routes_and_only_they_require_the_bearer_scheme() -> None:
    assert DOC["components"]["securitySchemes"]["adminBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The value of PLOTBURN_ADMIN_TOKEN.",
    }
    for rule in http_api.ROUTES.iter_rules():
        found = _operation(rule.rule, next(m for m in rule.methods or () if m not in {"HEAD", "OPTIONS"}))
        assert found is not None
        operation = found[1]
        if rule.endpoint in http_api.ADMIN_ENDPOINTS:
            assert operation["security"] == [{"adminBearer": []}], rule.rule
            assert {"401", "503"} <= set(operation["responses"]), rule.rule
        else:
            assert operation["security"] == [], rule.rule


def test_parameters_match_what_http_api_validates() -> None:
    movie = DOC["paths"]["/movie/{id}"]["get"]["parameters"][0]["schema"]
    assert movie == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    limit = DOC["paths"]["/logs"]["get"]["parameters"][0]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, http_api.LOGS_MAX_LIMIT, http_api.LOGS_DEFAULT_LIMIT)
    kinds = DOC["paths"]["/cache/clear/{kind}"]["delete"]["parameters"][0]["schema"]["enum"]
    assert tuple(kinds) == http_api.CACHE_KINDS
    for path in ("/cron/retry", "/debug"):
        (param,) = next(iter(DOC["paths"][path].values()))["parameters"]
        assert param["required"] is True
        assert DOC["components"]["schemas"]["CorrelationId"]["pattern"] == r"^(cron|manual-trigger)-[0-9]{1,16}$"


def test_openapi_json_is_served_publicly_and_is_the_document(call: Recorder) -> None:
    response = call("GET", "/openapi.json", expect=200)
    assert response.get_json() == DOC
    assert response.mimetype == "application/json"


# ------------------------------------------------------------------ every response


def test_every_documented_response_is_real_and_matches(api: Api, call: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    world = api.world
    admin_routes = [
        ("POST", "/cron/trigger", None),
        ("POST", "/cron/retry?correlationId=cron-1", "/cron/retry"),
        ("GET", "/logs", None),
        ("GET", "/debug?correlationId=cron-1", "/debug"),
        ("DELETE", "/cache/clear/roast", "/cache/clear/{kind}"),
        ("GET", "/budget", None),
    ]
    all_routes = admin_routes + [
        ("GET", "/healthz", None),
        ("GET", "/now-playing", None),
        ("GET", "/movie/1000", "/movie/{id}"),
        ("GET", "/cron/status", None),
        ("GET", "/dashboard", None),
        ("GET", "/openapi.json", None),
    ]

    # Before any run.
    call("GET", "/healthz", expect=200)
    status = call("GET", "/cron/status", expect=200).get_json()
    assert (status["last_run"], status["history"], status["total_runs"]) == (None, [], 0)
    call("GET", "/dashboard", expect=200)
    call("GET", "/openapi.json", expect=200)
    call("GET", "/budget", admin=True, expect=200)
    call("GET", "/logs", admin=True, expect=200)

    # Admin routes: no token, a wrong one, and none configured.
    for method, path, template in admin_routes:
        call(method, path, template, expect=401)
        call(method, path, template, headers={"Authorization": "Bearer nope"}, expect=401)
    api.set_admin_token(None)
    for method, path, template in admin_routes:
        call(method, path, template, admin=True, expect=503)
    api.set_admin_token(api.token)

    # A body over the limit, on every route.
    for method, path, template in all_routes:
        call(method, path, template, data=b"x" * (http_api.MAX_BODY_BYTES + 1), expect=413)

    # A run in progress, then finished with one failure (partial).
    world.roaster.failing = {1001}
    world.clock.advance(minutes=1)
    trigger = call("POST", "/cron/trigger", admin=True, expect=202).get_json()
    run_id = trigger["correlation_id"]
    api.fanout()
    live = call("GET", "/cron/status", expect=200).get_json()["last_run"]
    assert live["status"] == "in_progress" and live["duration_ms"] is None
    call("GET", f"/debug?correlationId={run_id}", "/debug", admin=True, expect=200)
    world.deliver_all()
    last = call("GET", "/cron/status", expect=200).get_json()["last_run"]
    assert last["status"] == "partial" and last["failure_reasons"].keys() == {"1001"}
    debug = call("GET", f"/debug?correlationId={run_id}", "/debug", admin=True, expect=200).get_json()
    assert any(m["outcome"] == "failed" and m["reason"] for m in debug["movies"])
    call("GET", "/now-playing", expect=200)
    call("GET", "/logs?limit=1", "/logs", admin=True, expect=200)
    call("GET", "/logs?limit=500", "/logs", admin=True, expect=200)
    for bad in ("0", "501", "abc", "", "-1", "1.5"):
        call("GET", f"/logs?limit={bad}", "/logs", admin=True, expect=400)

    # Retry: the failed movie republished (202), then nothing left to retry (200).
    world.roaster.failing = set()
    call("POST", f"/cron/retry?correlationId={run_id}", "/cron/retry", admin=True, expect=202)
    world.deliver_all()
    call("POST", f"/cron/retry?correlationId={run_id}", "/cron/retry", admin=True, expect=200)
    for method, path in (("POST", "/cron/retry"), ("GET", "/debug")):
        call(method, f"{path}?correlationId=manual-trigger-1", path, admin=True, expect=404)
        call(method, f"{path}?correlationId=nope-1", path, admin=True, expect=400)
        call(method, path, path, admin=True, expect=400)
    # Retrying when TMDB is down and the now-playing cache is empty: 502.
    world.caches.clear("now-playing")
    world.catalog.fail = True
    world.clock.advance(minutes=1)
    call("POST", "/cron/trigger", admin=True, expect=202)
    api.fanout()  # the run fails to start: TMDB is down
    failed_id = call("GET", "/cron/status", expect=200).get_json()["last_run"]
    assert failed_id["status"] == "failed" and failed_id["error"]
    world.catalog.fail = False
    world.roaster.failing = {1002}
    world.caches.clear("roast")
    partial_id = api.run_night()
    world.caches.clear("now-playing")
    world.catalog.fail = True
    call("POST", f"/cron/retry?correlationId={partial_id}", "/cron/retry", admin=True, expect=502)
    call("GET", "/now-playing", expect=502)
    world.catalog.fail = False
    world.roaster.failing = set()

    # Movies: cached, generated on a miss, 400, 404, 429, 202, 502, 503.
    call("GET", "/movie/1000", "/movie/{id}", expect=200)
    call("GET", "/movie/900000", "/movie/{id}", admin=True, expect=200)  # admin: any movie
    call("GET", "/movie/900001", "/movie/{id}", expect=404)  # public: not now playing
    call("GET", "/movie/123", "/movie/{id}", admin=True, expect=404)  # TMDB does not know it
    for bad in ("0", "01", "abc", "-5", "2147483648", "99999999999", "1e3"):
        call("GET", f"/movie/{bad}", "/movie/{id}", expect=400)
    world.roaster.failing = {1003}
    call("DELETE", "/cache/clear/roast", "/cache/clear/{kind}", admin=True, expect=200)
    call("GET", "/movie/1003", "/movie/{id}", expect=502)
    world.roaster.failing = set()
    world.pipeline.leases.acquire(1004, "someone-else", world.clock())
    monkeypatch.setattr(world.pipeline, "settings", world.pipeline.settings.model_copy(update={"single_flight_wait_seconds": 0.0}))
    generating = call("GET", "/movie/1004", "/movie/{id}", expect=202)
    assert generating.headers["Retry-After"]
    world.pipeline.leases.release(1004, "someone-else")
    for _ in range(world.pipeline.settings.paid_requests_per_minute + 1):
        world.caches.clear("roast")
        last_movie = call("GET", "/movie/1001", "/movie/{id}")
    assert last_movie.status_code == 429
    world.clock.advance(minutes=2)
    world.pipeline.budget.add(world.clock().date().isoformat(), 10**9, 0.0)
    call("GET", "/movie/1002", "/movie/{id}", expect=503)

    # Caches.
    for kind in http_api.CACHE_KINDS:
        call("DELETE", f"/cache/clear/{kind}", "/cache/clear/{kind}", admin=True, expect=200)
    call("DELETE", "/cache/clear/everything", "/cache/clear/{kind}", admin=True, expect=404)

    # Storage down: 503 with Retry-After on the public routes that read it.
    def down(*args: Any, **kwargs: Any) -> Any:
        raise InfrastructureUnavailable("firestore: deadline exceeded")

    with monkeypatch.context() as patch:
        patch.setattr(world.runs, "recent_runs", down)
        patch.setattr(world.caches, "get_now_playing", down)
        patch.setattr(world.caches, "get_roast", down)
        for path, template in (("/cron/status", None), ("/now-playing", None), ("/movie/1000", "/movie/{id}")):
            unavailable = call("GET", path, template, expect=503)
            assert unavailable.headers["Retry-After"] == "5"

    # Not in the document: unknown routes and methods.
    call("GET", "/nope", expect=404)
    call("POST", "/healthz", expect=405)
    call("DELETE", "/cron/status", expect=405)

    documented = {
        (path, method, status)
        for path, item in DOC["paths"].items()
        for method, operation in item.items()
        for status in operation["responses"]
    }
    assert documented - call.seen == set(), "documented responses no test produced"
