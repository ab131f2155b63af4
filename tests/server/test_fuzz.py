"""The fuzzing gate (issue 9): schemathesis against a live `labelwise serve` on a real project.

Every operation of the OpenAPI schema, as an admin and as an annotator, on SQLite and on
PostgreSQL, with the checks "no server error", "the status code is documented" and "the response
conforms to the schema". Bounded for `make test` (LABELWISE_FUZZ_EXAMPLES per operation, 30 by
default, a fixed seed); `make fuzz` runs it longer.
"""

from __future__ import annotations

import os
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.utils.server import ServerProcess, make_project

EXAMPLES = int(os.environ.get("LABELWISE_FUZZ_EXAMPLES", "30"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_server(request, tmp_path_factory, fashion_folder):
    db_url, admin, name = "", None, None
    if request.param == "postgresql":
        import sqlalchemy

        admin_url = request.getfixturevalue("postgres_admin_url")
        name = f"labelwise_fuzz_{uuid.uuid4().hex[:12]}"
        admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        db_url = sqlalchemy.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    folder = tmp_path_factory.mktemp(f"fuzz-{request.param}") / "proj"
    project, tokens = make_project(folder, fashion_folder, db_url)
    project.close()
    server = ServerProcess(folder)
    server.start()
    yield server, tokens
    server.stop()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fuzz_operation(operation, base_url: str, headers: dict[str, str]) -> None:
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])  # fmt: skip
    @given(case=operation.as_strategy())
    def run(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("who", ["admin", "ann"])
def test_no_server_error_and_every_response_as_documented(live_server, who):
    server, tokens = live_server
    headers = {"Authorization": f"Bearer {tokens[who]}"}
    schema = schemathesis.openapi.from_url(server.url + "/api/openapi.json", headers=headers)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            fuzz_operation(operation, server.url, headers)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a FailureGroup too: every operation runs, failures reported together
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations >= 15
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(failures)
