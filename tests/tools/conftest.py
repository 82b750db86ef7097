"""Tests of the tools around PlotBurn (the upstream simulator, the local stack, the
operator CLI, `make smoke`, the follow-a-run loop). The CLI's tests drive the API in
process, so they use the unit tests' in-memory world."""

from tests.unit.conftest import world  # noqa: F401 (a fixture)
