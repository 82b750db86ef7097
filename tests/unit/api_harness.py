"""The real `api` entry point (main.py under functions-framework) on the `world`
fixture's in-memory use cases, for tests that speak HTTP to it: the OpenAPI
conformance tests, schemathesis, the dashboard and the CLI.

Import the fixtures you use into the test module::

    from tests.unit.api_harness import api, api_flask_app  # noqa: F401 (fixtures)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask
import functions_framework
import pytest
from pydantic import SecretStr

from functions import bootstrap
from functions.bootstrap import App
from tests.unit.conftest import World

MAIN = Path(__file__).resolve().parents[2] / "main.py"
ADMIN_TOKEN = "unit-admin-token-7c1e5b-0123456789abcdef"


@dataclass
class Api:
    world: World
    app: App
    flask_app: flask.Flask
    token: str = ADMIN_TOKEN

    @property
    def client(self) -> Any:
        return self.flask_app.test_client()

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def api_key(self) -> dict[str, str]:
        """The admin key as the Worker's clients send it."""
        return {"x-api-key": self.token}

    def configure(self, **updates: Any) -> None:
        """Reinstall the api with these settings changed (e.g. require_key=True)."""
        settings = self.app.settings.model_copy(update=updates)
        self.app = dataclasses.replace(self.world.app, settings=settings)
        bootstrap.install(self.app)

    def set_admin_token(self, token: str | None) -> None:
        """Reconfigure the admin token (None: admin routes disabled)."""
        self.configure(admin_token=SecretStr(token) if token is not None else None)

    def fanout(self) -> None:
        """What the `fanout` function does with every nightly message published so far."""
        pending, self.world.publisher.nightly = list(self.world.publisher.nightly), []
        for message in pending:
            self.world.nightly.start_run(message, self.world.clock())

    def run_night(self) -> str:
        """Trigger a manual run through the API and let it finish; returns its id."""
        self.world.clock.advance(minutes=1)
        response = self.client.post("/cron/trigger", headers=self.admin)
        assert response.status_code == 202, response.get_data(as_text=True)
        self.fanout()
        self.world.deliver_all()
        return str(response.get_json()["correlation_id"])


@pytest.fixture(scope="session")
def api_flask_app() -> flask.Flask:
    """main.py's `api` target as functions-framework serves it (built once: each
    request asks bootstrap for the installed App, which the `api` fixture swaps)."""
    return functions_framework.create_app(target="api", source=str(MAIN), signature_type="http")


@pytest.fixture
def api(world: World, api_flask_app: flask.Flask) -> Iterator[Api]:
    settings = world.settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    app = dataclasses.replace(world.app, settings=settings)
    bootstrap.install(app)
    try:
        yield Api(world=world, app=app, flask_app=api_flask_app)
    finally:
        bootstrap.reset()
