"""Property-based run of schemathesis against the real `api` (main.py under
functions-framework, in process, on the in-memory use cases): generated valid and
invalid requests for every operation of /openapi.json must get no 5xx that is not
documented and no response that breaks the document."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, configuration, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions import openapi
from tests.unit.api_harness import Api, api, api_flask_app  # noqa: F401 (fixtures)

MAX_EXAMPLES = 30
# No undocumented 5xx, no undocumented status, and every body and header as documented.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Hypothesis keeps caches on disk; under test-output/ (ignored, never deployed), not
# in a .hypothesis/ at the repository root.
configuration.set_hypothesis_home_dir(
    Path(__file__).resolve().parents[2] / "test-output" / "hypothesis"
)


# Built from the module, not fetched from the app: the document the api serves is
# the same dict (test_openapi checks that). schemathesis' from_fixture() would fetch it,
# but it does not work with pytest 9 (it sets Function._nodeid, which pytest 9 removed).
schema = schemathesis.openapi.from_dict(openapi.document())


@pytest.fixture
def seeded(api: Api) -> Api:
    """Something to look at: finished runs (one partial), caches, log entries."""
    api.world.roaster.failing = {1003}
    api.run_night()
    api.world.roaster.failing = set()
    api.run_night()
    return api


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, seeded: Api) -> None:
    api = seeded
    # Admin operations (a key required, none optional) with the key, as the Worker's
    # clients send it, so generated inputs reach the handlers; the keyless 401s are
    # covered by test_openapi.
    security = case.operation.definition.raw.get("security") or []
    headers = api.api_key if security and {} not in security else None
    case.call_and_validate(app=api.flask_app, headers=headers, checks=CHECKS)
