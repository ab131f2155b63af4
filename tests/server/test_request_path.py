"""The request path of a busy server: what one lease + label costs the database (issue 8, fourth pass)."""

from __future__ import annotations

import base64

from sqlalchemy import event


def _user_lookups(engine, run) -> int:
    """How many statements that read the users table ``run`` makes through ``engine``."""
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if "FROM users" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return len(seen)


def test_a_post_looks_its_credential_up_once(client):
    """The middleware authenticates every POST before reading its body; the route reuses that account
    instead of asking the database again (two lookups per request before)."""
    engine = client.app.state.project.engine
    leased = []
    assert _user_lookups(engine, lambda: leased.append(client.ann.post("/api/queue/next", json={"n": 1}))) == 1
    item = leased[0].json()["items"][0]
    label = {"image_id": item["image_id"], "label": "Trouser"}
    assert _user_lookups(engine, lambda: leased.append(client.ann.post("/api/annotations", json=label))) == 1
    assert leased[1].status_code == 201


def test_the_route_reuses_only_the_credential_it_reads_itself(client, server_project):
    """The middleware also accepts HTTP Basic (for Label Studio's form); the JSON API's routes never did,
    and still refuse it: the account is reused only when found from the route's own credential."""
    _, tokens = server_project
    basic = base64.b64encode(f"x:{tokens['ann']}".encode()).decode()
    answer = client.anon.post("/api/queue/next", json={"n": 1}, headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 401
