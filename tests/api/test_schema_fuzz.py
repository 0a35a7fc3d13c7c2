"""Schemathesis against ``/openapi.json``: generated requests on every operation (a bounded
number each), with users on so the token paths are exercised too; no answer may be a 5xx.

The app runs in-process on SQLite and the machine's Redis; its broker is a Redis database
of its own (the jobs it accepts are flushed, no worker takes them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from jobs.celery_app import QUEUES, queue_keys
from tests.api.test_service import REDIS_URL

BROKER_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture(scope="module")
def app_and_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from jobs.db import make_engine, session_factory
    from jobs.settings import Settings
    from jobs.users import create_token

    home = tmp_path_factory.mktemp("fuzz")
    settings = Settings(home=home, redis_url=REDIS_URL, broker_url=BROKER_URL, source_roots=[str(home)])
    with session_factory(make_engine(settings.resolved_database_url()))() as session:
        token = create_token(session, "fuzzer", admin=True)[1]
    app = create_app(settings)
    with TestClient(app):  # runs the lifespan: the app's services exist while the fuzzer calls it
        yield app, token
    broker = redis.Redis.from_url(BROKER_URL)
    broker.delete(*[key for queue in QUEUES for key in queue_keys(queue)])


def test_no_generated_request_gets_a_server_error(app_and_token: tuple[Any, str]) -> None:
    app, token = app_and_token
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=auth)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:
        strategies = [operation.as_strategy(mode) for mode in GenerationMode]  # valid and invalid requests

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        @given(case=st.one_of(strategies))
        def check(case: Any) -> None:
            response = case.call(headers=auth)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: "
                                f"{response.text[:300]}")

        check()
    assert not failures, "\n".join(failures[:20])
