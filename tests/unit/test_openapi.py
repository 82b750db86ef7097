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
from werkzeug.exceptions import MethodNotAllowed, NotFound

from functions import api_contract, http_api, openapi
from functions.errors import InfrastructureUnavailable
from functions.models import MOVIE_META_FIELDS
from functions.usecases.admin_access import ADMIN_FAILURES_PER_MINUTE
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
REGISTRY = Registry().with_resource(
    DOC_URI, Resource.from_contents(STRICT, default_specification=DRAFT202012)
)


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


def _header_value(schema: dict[str, Any], raw: str) -> Any:
    """A header's text as the JSON value its schema describes."""
    resolved = _resolve(schema)
    if resolved.get("type") == "integer":
        assert re.fullmatch(r"[0-9]+", raw), raw
        return int(raw)
    return raw


def check_headers(where: tuple[str, str, str], documented: dict[str, Any], response: Any) -> None:
    """Every documented header that is required is there, and each present one is valid."""
    for name, header in documented.get("headers", {}).items():
        header = _resolve(header)
        value = response.headers.get(name)
        if value is None:
            assert not header.get("required"), (*where, f"missing required header {name}")
            continue
        Draft202012Validator(
            {"$ref": f"{DOC_URI}#/{_schema_pointer(header['schema'])}"}
            if "$ref" in header["schema"]
            else header["schema"],
            registry=REGISTRY,
        ).validate(_header_value(header["schema"], value))


def _schema_pointer(ref: dict[str, str]) -> str:
    return ref["$ref"].split("#/", 1)[1]


def check_response(template: str, method: str, response: Any) -> None:
    """Validate one real response against the document: status, headers, body."""
    status = str(response.status_code)
    found = _operation(template, method)
    body_type = response.mimetype
    # Every response, documented or not, carries the request's correlation id.
    assert re.fullmatch(
        api_contract.SAFE_ID_PATTERN, response.headers.get("x-correlation-id", "")
    ), (
        template,
        method,
        status,
        response.headers.get("x-correlation-id"),
    )
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
    check_headers((method, doc_path, status), documented, response)
    if body_type != "application/json":
        return
    # Validate through the document itself so $refs resolve exactly as clients see them.
    raw = operation["responses"][status]
    if "$ref" in raw:
        pointer = raw["$ref"].split("#/", 1)[1] + "/" + _pointer("content", body_type, "schema")
    else:
        pointer = _pointer(
            "paths", doc_path, method.lower(), "responses", status, "content", body_type, "schema"
        )
    validator = Draft202012Validator(
        {"$ref": f"{DOC_URI}#/{pointer}"},
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(response.get_json()), key=lambda e: list(e.path))
    assert not errors, f"{method} {template} {status}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
    )


def _route_of(path: str) -> str:
    """The http_api rule a path matches (any method), else the path itself."""
    adapter = http_api.ROUTES.bind("plotburn")
    for method in ("GET", "POST", "DELETE"):
        try:
            rule, _ = adapter.match(path, method=method, return_rule=True)
        except (NotFound, MethodNotAllowed):
            continue
        return str(rule.rule)
    return path


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
        admin: bool | str = False,
        expect: int | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if admin:
            headers.update(self.api.admin if admin is True else self.api.api_key)
        response = self.api.client.open(path, method=method, headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.get_data(as_text=True))
        tmpl = template or _route_of(path.split("?")[0])
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


def test_security_schemes_admin_routes_and_the_optional_key() -> None:
    assert DOC["components"]["securitySchemes"] == {
        "adminApiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "x-api-key",
            "description": "The value of PLOTBURN_ADMIN_TOKEN (the Worker's header).",
        },
        "adminBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "The value of PLOTBURN_ADMIN_TOKEN.",
        },
    }
    either = [{"adminApiKey": []}, {"adminBearer": []}]
    for rule in http_api.ROUTES.iter_rules():
        method = next(m for m in rule.methods or () if m not in {"HEAD", "OPTIONS"})
        found = _operation(rule.rule, method)
        assert found is not None
        operation = found[1]
        if rule.endpoint in http_api.ADMIN_ENDPOINTS:
            assert operation["security"] == either, rule.rule
        elif rule.endpoint in http_api.OPEN_ENDPOINTS:
            assert operation["security"] == [], rule.rule  # /healthz: never a key
            continue
        else:
            # Open unless PLOTBURN_REQUIRE_KEY: then the same key as the admin routes.
            assert operation["security"] == [{}, *either], rule.rule
        assert {"401", "503"} <= set(operation["responses"]), rule.rule


def test_parameters_match_what_http_api_validates() -> None:
    def params(path: str, method: str = "get") -> dict[str, dict[str, Any]]:
        return {p.get("name", p.get("$ref")): p for p in DOC["paths"][path][method]["parameters"]}

    movie = params("/movie/{id}")["id"]["schema"]
    assert movie == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    assert params("/movie/{id}/debug")["id"]["schema"] == movie
    logs = params("/logs")
    assert logs["limit"]["schema"] == {
        "type": "integer",
        "default": api_contract.LOGS_DEFAULT_LIMIT,
    }
    assert str(api_contract.LOGS_MAX_LIMIT) in logs["limit"]["description"]  # clamped, not refused
    assert logs["level"]["schema"]["enum"] == list(api_contract.LOG_LEVELS)
    assert logs["correlationId"]["required"] is False
    older = params("/logs", "delete")["olderThanDays"]["schema"]
    assert older["default"] == api_contract.LOGS_DEFAULT_OLDER_THAN_DAYS
    kinds = params("/cache/clear/{kind}", "delete")["kind"]["schema"]["enum"]
    assert (
        tuple(kinds) == api_contract.CLEARABLE == ("now-playing", "roast", "truth", "debug", "all")
    )
    feed = params("/feed")
    assert feed["type"]["schema"]["enum"] == ["now-playing", "roast", "truth", "all"]
    assert (feed["limit"]["schema"]["minimum"], feed["limit"]["schema"]["maximum"]) == (
        1,
        api_contract.FEED_MAX_LIMIT,
    )
    schemas = DOC["components"]["schemas"]
    assert params("/cron/retry", "post")["correlationId"]["required"] is True
    assert params("/cron/retry", "post")["correlationId"]["schema"] == {
        "$ref": "#/components/schemas/CorrelationId"
    }
    assert schemas["CorrelationId"]["pattern"] == r"^(cron|manual-trigger)-[0-9]{1,16}$"
    # /debug takes any correlation id of a safe form, request ids included.
    assert params("/debug")["correlationId"]["required"] is True
    assert params("/debug")["correlationId"]["schema"] == {
        "$ref": "#/components/schemas/AnyCorrelationId"
    }
    assert schemas["AnyCorrelationId"]["pattern"] == api_contract.SAFE_ID_PATTERN
    # Every operation takes (and every response echoes) x-correlation-id.
    for item in DOC["paths"].values():
        for operation in item.values():
            assert {"$ref": "#/components/parameters/CorrelationIdHeader"} in operation[
                "parameters"
            ]


def test_the_worker_shapes_are_named_field_for_field() -> None:
    schemas = DOC["components"]["schemas"]
    assert list(schemas["MovieResponse"]["properties"]) == [
        "cached",
        "movie",
        "roast",
        "generated_at",
        "disclaimer",
        "truth_source",
        "truth_fetched_at",
        "roast_model",
        "citations",
    ]
    assert set(schemas["MovieResponse"]["required"]) == set(schemas["MovieResponse"]["properties"])
    assert tuple(schemas["MovieMeta"]["properties"]) == MOVIE_META_FIELDS
    assert set(schemas["MovieMeta"]["required"]) == set(MOVIE_META_FIELDS)
    assert set(schemas["RoastCard"]["required"]) == {
        "headline",
        "content",
        "chips",
        "internet_vibe",
        "your_opinion",
        "similar_movies",
    }
    assert set(schemas["NowPlaying"]["required"]) == {
        "cached",
        "page",
        "total_pages",
        "total_results",
        "dates",
        "movies",
    }
    assert set(schemas["NowPlayingMovie"]["required"]) == {
        "id",
        "title",
        "release_date",
        "rating",
        "votes",
        "popularity",
        "overview",
        "poster_url",
        "has_roast",
    }
    assert set(schemas["LogEntry"]["properties"]) >= {
        "timestamp",
        "level",
        "correlationId",
        "endpoint",
        "method",
        "movieId",
        "movieTitle",
        "responseStatus",
        "duration",
        "error",
        "metadata",
    }
    assert set(schemas["Error"]["required"]) == {"error", "message"}
    assert set(schemas["CacheCleared"]["required"]) >= {
        "success",
        "deleted_count",
        "deleted_keys",
        "message",
    }
    now_playing = DOC["paths"]["/now-playing"]["get"]["responses"]["200"]["headers"][
        "Cache-Control"
    ]
    assert now_playing["schema"] == {
        "const": f"public, max-age={api_contract.NOW_PLAYING_MAX_AGE_SECONDS}"
    }


def test_openapi_json_is_served_publicly_and_is_the_document(call: Recorder) -> None:
    response = call("GET", "/openapi.json", expect=200)
    assert response.get_json() == DOC
    assert response.mimetype == "application/json"


# ------------------------------------------------------------------ every response


ADMIN_ROUTES = [
    ("POST", "/cron/trigger"),
    ("POST", "/cron/retry?correlationId=cron-1"),
    ("GET", "/logs"),
    ("DELETE", "/logs"),
    ("GET", "/debug?correlationId=cron-1"),
    ("GET", "/movie/1000/debug"),
    ("DELETE", "/cache/clear/roast"),
    ("GET", "/budget"),
]
# Open unless PLOTBURN_REQUIRE_KEY is set.
KEYABLE_ROUTES = [
    ("GET", "/now-playing"),
    ("GET", "/movie/1000"),
    ("GET", "/feed"),
    ("GET", "/cron/status"),
    ("GET", "/dashboard"),
    ("GET", "/openapi.json"),
]
ALL_ROUTES = [*ADMIN_ROUTES, *KEYABLE_ROUTES, ("GET", "/healthz")]


def test_every_documented_response_is_real_and_matches(
    api: Api, call: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = api.world

    # Before any run.
    call("GET", "/healthz", expect=200)
    status = call("GET", "/cron/status", expect=200).get_json()
    assert (status["last_run"], status["history"], status["total_runs"]) == (None, [], 0)
    call("GET", "/dashboard", expect=200)
    call("GET", "/openapi.json", expect=200)
    call("GET", "/budget", admin=True, expect=200)
    call("GET", "/logs", admin=True, expect=200)
    # The feed reads the caches only: no now-playing list cached yet.
    for path in ("/feed", "/feed?type=now-playing", "/feed?type=all"):
        call("GET", path, expect=404)
    assert call("GET", "/feed?type=roast", expect=200).get_json()["results"] == []
    call("GET", "/feed?type=truth", expect=200)
    call("GET", "/debug?correlationId=nothing-here", admin=True, expect=404)
    call("GET", "/movie/1000/debug", admin=True, expect=404)

    # Admin routes: no key, a wrong one (either header), and none configured. Each
    # wrong key comes from a client of its own (wrong keys are throttled per client).
    guessers = (f"198.51.100.{n}" for n in range(1, 255))
    for method, path in ADMIN_ROUTES:
        missing = call(method, path, expect=401).get_json()
        assert missing == {"error": "Unauthorized", "message": "Missing x-api-key header"}
        for wrong in ({"Authorization": "Bearer nope"}, {"x-api-key": "nope"}):
            headers = {**wrong, "X-Forwarded-For": next(guessers)}
            assert (
                call(method, path, headers=headers, expect=401).get_json()["message"]
                == "Invalid API key"
            )
    api.set_admin_token(None)
    for method, path in ADMIN_ROUTES:
        call(method, path, admin=True, expect=503)
    api.set_admin_token(api.token)

    # A body over the limit, on every route.
    for method, path in ALL_ROUTES:
        call(method, path, data=b"x" * (api_contract.MAX_BODY_BYTES + 1), expect=413)

    # PLOTBURN_REQUIRE_KEY: every route but /healthz needs the key (either header),
    # and with no token configured they answer 503.
    api.configure(require_key=True)
    for method, path in KEYABLE_ROUTES:
        call(method, path, expect=401)
        call(
            method,
            path,
            headers={"x-api-key": "nope", "X-Forwarded-For": next(guessers)},
            expect=401,
        )
    # A client past ADMIN_FAILURES_PER_MINUTE wrong keys gets 429 for any key it
    # presents, the right one included, on every route that needs one.
    throttled = {"X-Forwarded-For": "203.0.113.66"}
    for _ in range(ADMIN_FAILURES_PER_MINUTE):
        call("GET", "/logs", headers={**throttled, "x-api-key": "nope"}, expect=401)
    for method, path in [*ADMIN_ROUTES, *KEYABLE_ROUTES]:
        answer = call(method, path, headers={**throttled, **api.admin}, expect=429)
        assert int(answer.headers["Retry-After"]) >= 1
    call("GET", "/healthz", expect=200)
    call("GET", "/cron/status", admin="key", expect=200)
    call("GET", "/openapi.json", admin=True, expect=200)
    api.set_admin_token(None)
    for method, path in KEYABLE_ROUTES:
        call(method, path, admin=True, expect=503)
    call("GET", "/healthz", expect=200)
    api.configure(require_key=False)
    api.set_admin_token(api.token)

    # A run: in progress as soon as the trigger answers, then partial (one failure).
    world.roaster.failing = {1001}
    world.clock.advance(minutes=1)
    trigger = call("POST", "/cron/trigger", admin="key", expect=202).get_json()
    run_id = trigger["correlation_id"]
    live = call("GET", "/cron/status", expect=200).get_json()["last_run"]
    assert (live["correlation_id"], live["status"], live["duration_ms"]) == (
        run_id,
        "in_progress",
        None,
    )
    api.fanout()
    early = call("GET", f"/debug?correlationId={run_id}", admin=True, expect=200).get_json()
    assert early["count"] == 0 and early["run"]["status"] == "in_progress"
    world.deliver_all()
    last = call("GET", "/cron/status", expect=200).get_json()["last_run"]
    assert last["status"] == "partial" and last["failure_reasons"].keys() == {"1001"}
    debug = call("GET", f"/debug?correlationId={run_id}", admin=True, expect=200).get_json()
    assert any(m["outcome"] == "failed" and m["reason"] for m in debug["movies"])
    assert debug["count"] == 4 and {e["data"]["correlationId"] for e in debug["entries"]} == {
        run_id
    }
    listing = call("GET", "/now-playing", expect=200).get_json()
    assert {m["id"]: m["has_roast"] for m in listing["movies"]} == {
        1000: True,
        1001: False,
        1002: True,
        1003: True,
        1004: True,
    }
    assert listing["cached"] is True and listing["total_results"] == 5
    call("GET", "/movie/1000/debug", admin=True, expect=200)
    call("GET", "/movie/1001/debug", admin=True, expect=404)
    call("GET", "/movie/0/debug", admin=True, expect=400)

    # Logs: limits are clamped, never refused; level and correlationId filter.
    assert len(call("GET", "/logs?limit=1", admin=True, expect=200).get_json()["logs"]) == 1
    for clamped_to_one in ("0", "-1"):
        assert (
            len(
                call("GET", f"/logs?limit={clamped_to_one}", admin=True, expect=200).get_json()[
                    "logs"
                ]
            )
            == 1
        )
    for fine in ("5000", "abc", "", "1.5"):
        call("GET", f"/logs?limit={fine}", admin=True, expect=200)
    warnings = call("GET", "/logs?level=warn", admin=True, expect=200).get_json()["logs"]
    assert warnings and {e["level"] for e in warnings} == {"WARN"}
    mine = call(
        "GET", f"/logs?correlationId={run_id}&level=INFO", admin=True, expect=200
    ).get_json()["logs"]
    assert mine and {(e["correlationId"], e["level"]) for e in mine} == {(run_id, "INFO")}
    for bad in ("level=nope", "correlationId=", "correlationId=bad%20id"):
        call("GET", f"/logs?{bad}", admin=True, expect=400)

    # The feed: every type, one document by id, and its 400s and 404s.
    for kind in ("now-playing", "roast", "truth", "all"):
        call("GET", f"/feed?type={kind}&limit=2&page=2", expect=200)
    call("GET", "/feed", expect=200)
    call("GET", "/feed?id=1000&type=roast", expect=200)
    call("GET", "/feed?id=1000&type=truth", expect=200)
    call("GET", "/feed?id=1001&type=roast", expect=404)
    invalid = call("GET", "/feed?type=nope", expect=400).get_json()
    assert invalid["error"] == "Invalid type. Use: now-playing, roast, truth, or all"
    for bad in ("id=1000&type=all", "id=1000", "page=0", "limit=101", "id=abc&type=roast"):
        call("GET", f"/feed?{bad}", expect=400)

    # Retry: the failed movie republished (202), then nothing left to retry (200).
    world.roaster.failing = set()
    call("POST", f"/cron/retry?correlationId={run_id}", admin=True, expect=202)
    world.deliver_all()
    call("POST", f"/cron/retry?correlationId={run_id}", admin=True, expect=200)
    call("POST", "/cron/retry?correlationId=manual-trigger-1", admin=True, expect=404)
    call("POST", "/cron/retry?correlationId=nope-1", admin=True, expect=400)
    call("POST", "/cron/retry", admin=True, expect=400)
    call("GET", "/debug?correlationId=manual-trigger-1", admin=True, expect=404)
    call("GET", "/debug?correlationId=nope-1", admin=True, expect=404)  # any safe id
    call("GET", "/debug?correlationId=bad!id", admin=True, expect=400)
    call("GET", "/debug", admin=True, expect=400)
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
    call("POST", f"/cron/retry?correlationId={partial_id}", admin=True, expect=502)
    call("GET", "/now-playing", expect=502)
    world.catalog.fail = False
    world.roaster.failing = set()

    # Movies: cached, generated on a miss, 400, 404, 429, 202, 502, 503.
    cached = call("GET", "/movie/1000", expect=200).get_json()
    assert cached["cached"] is True and cached["movie"]["id"] == 1000
    # The admin may generate any movie; the request's x-correlation-id names it.
    made = call(
        "GET", "/movie/900000", admin="key", headers={"x-correlation-id": "req-test.1"}, expect=200
    )
    assert made.get_json()["cached"] is False and made.headers["x-correlation-id"] == "req-test.1"
    by_request = call("GET", "/debug?correlationId=req-test.1", admin=True, expect=200).get_json()
    assert by_request["count"] == 1 and "run" not in by_request
    assert by_request["entries"][0]["data"]["movie"]["id"] == 900000
    unsafe = call("GET", "/healthz", headers={"x-correlation-id": "no spaces!"}, expect=200)
    assert unsafe.headers["x-correlation-id"] != "no spaces!"
    call("GET", "/movie/900001", expect=404)  # public: not now playing
    call("GET", "/movie/123", admin=True, expect=404)  # TMDB does not know it
    for bad in ("0", "01", "abc", "-5", "2147483648", "99999999999", "1e3"):
        call("GET", f"/movie/{bad}", expect=400)
    world.roaster.failing = {1003}
    call("DELETE", "/cache/clear/roast", admin=True, expect=200)
    call("GET", "/movie/1003", expect=502)
    world.roaster.failing = set()
    world.leases.acquire(1004, "someone-else", world.clock())
    monkeypatch.setattr(
        world,
        "settings",
        world.settings.model_copy(update={"single_flight_wait_seconds": 0.0}),
    )
    generating = call("GET", "/movie/1004", expect=202)
    assert generating.headers["Retry-After"]
    world.leases.release(1004, "someone-else")
    for _ in range(world.settings.paid_requests_per_minute + 1):
        world.caches.clear("roast")
        last_movie = call("GET", "/movie/1001")
    assert last_movie.status_code == 429
    world.clock.advance(minutes=2)
    world.daily_budget.add(world.clock().date().isoformat(), 10**9, 0.0)
    call("GET", "/movie/1002", expect=503)

    # Logs deleted by age.
    call("DELETE", "/logs", admin=True, expect=200)
    gone = call("DELETE", "/logs?olderThanDays=0", admin=True, expect=200).get_json()
    assert gone["success"] is True and gone["message"].startswith(
        f"Deleted {gone['deleted_count']} "
    )
    for bad in ("abc", "-1", "99999"):
        call("DELETE", f"/logs?olderThanDays={bad}", admin=True, expect=400)

    # Caches: each, all, an unknown one, and one that cannot be cleared now.
    for kind in api_contract.CLEARABLE:
        cleared = call("DELETE", f"/cache/clear/{kind}", admin=True, expect=200).get_json()
        assert cleared["success"] is True and cleared["cache"] == kind
    call("DELETE", "/cache/clear/everything", admin=True, expect=404)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise InfrastructureUnavailable("firestore: deadline exceeded")

    with monkeypatch.context() as patch:
        patch.setattr(world.caches, "clear", down)
        partial = call("DELETE", "/cache/clear/all", admin=True, expect=503).get_json()
        assert partial["success"] is False and partial["errors"]

    # Storage down: 503 with Retry-After on the public routes that read it.
    with monkeypatch.context() as patch:
        patch.setattr(world.runs, "recent_runs", down)
        patch.setattr(world.caches, "get_now_playing", down)
        patch.setattr(world.caches, "get_roast", down)
        for path in ("/cron/status", "/now-playing", "/movie/1000", "/feed"):
            unavailable = call("GET", path, expect=503)
            assert unavailable.headers["Retry-After"] == "5"

    # Not in the document: unknown routes and methods.
    assert call("GET", "/nope", expect=404).get_json()["error"] == "Not found"
    call("POST", "/healthz", expect=405)
    call("DELETE", "/cron/status", expect=405)

    documented = {
        (path, method, status)
        for path, item in DOC["paths"].items()
        for method, operation in item.items()
        for status in operation["responses"]
    }
    assert documented - call.seen == set(), "documented responses no test produced"
