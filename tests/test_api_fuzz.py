"""Property-based fuzzing of the OpenAPI schema (schemathesis): whatever the generator sends with a valid
key, the service answers without a server error and with the documented response shapes."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from api_world import build_world, make_api
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

MAX_EXAMPLES = 6  # per operation: ~45 operations, about a minute on two cores


@pytest.fixture(scope="module")
def fuzz_target(_session_store, tmp_path_factory):
    _session_store.clear()
    world = build_world(_session_store)
    app = make_api(_session_store, tmp_path_factory.mktemp("fuzz"))
    yield schemathesis.openapi.from_asgi("/openapi.json", app), world
    _session_store.clear()


def _fuzz_operation(operation, headers: dict[str, str], statuses: Counter) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=headers,
                                          checks=[not_a_server_error, response_schema_conformance])
        statuses[response.status_code // 100] += 1

    fuzz()


def test_fuzzed_requests_get_no_server_error(fuzz_target):
    schema, world = fuzz_target
    statuses: Counter = Counter()
    operations = 0
    # one Hypothesis run per operation (schemathesis' pytest fixture loader does not work with this pytest)
    for result in schema.get_all_operations():
        operation = result.ok()
        headers = world.headers("admin" if operation.path.startswith("/api/admin") else "bureau")
        _fuzz_operation(operation, headers, statuses)
        operations += 1
    assert operations > 40
    assert statuses[2] > 20 and statuses[4] > 20 and statuses[5] == 0, statuses
