"""The Label Studio ML-backend protocol on ``labelwise serve``: authenticated, answers from the ranking."""

from __future__ import annotations

import base64
import json

from sqlalchemy import select

from labelwise.project.training import QueueEntry, Ranking, ranking_path
from labelwise.store.models import Image

CONFIG = ('<View><Image name="img" value="$image"/><Choices name="kind" toName="img">'
          '<Choice value="Bag"/><Choice value="Coat"/></Choices></View>')  # fmt: skip


def test_backend_routes_need_a_token(client):
    for method, path in [("get", "/health"), ("post", "/setup"), ("post", "/predict"), ("post", "/webhook")]:
        answer = getattr(client.anon, method)(path, **({} if method == "get" else {"json": {}}))
        assert answer.status_code == 401, path


def test_predict_answers_from_the_ranking_with_bearer_or_basic_auth(client, server_project):
    folder, tokens = server_project
    project = client.app.state.project
    with project.sessions() as session:
        first, second, third = session.execute(select(Image.id, Image.path).order_by(Image.id).limit(3)).all()
    # Two mirrored tasks: 11 is ranked second, 12 first; task 13 is unknown to labelwise.
    (folder / "label-studio.json").write_text(json.dumps({"tasks": {"11": first[1], "12": second[1]}}))
    Ranking(7, "margin", [QueueEntry(second[0], 0.9, [("Coat", 0.6)]), QueueEntry(first[0], 0.5, [("Bag", 0.7)]),
                          QueueEntry(third[0], 0.1, [("Bag", 0.5)])]).save(ranking_path(project))  # fmt: skip

    health = client.ann.get("/health").json()
    assert (health["status"], health["model_version"]) == ("UP", "labelwise-v7")
    assert client.ann.post("/setup", json={"project": "1.0"}).json()["model_version"] == "labelwise-v7"
    basic = base64.b64encode(f"labelwise:{tokens['ann']}".encode()).decode()
    answer = client.anon.post(
        "/predict", headers={"Authorization": f"Basic {basic}"},
        json={"tasks": [{"id": 11}, {"id": 12}, {"id": 13}], "label_config": CONFIG},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["score"] for r in results] == [1 / 3, 0.0, 1.0]
    assert results[0]["result"] == [
        {"from_name": "kind", "to_name": "img", "type": "choices", "value": {"choices": ["Bag"]}}
    ]
    assert results[2]["result"] == [] and results[1]["model_version"] == "labelwise-v7"
    wrong = base64.b64encode(b"labelwise:not-a-token").decode()
    assert client.anon.post("/predict", headers={"Authorization": f"Basic {wrong}"}, json={}).status_code == 401
    assert client.ann.post("/webhook", json={"action": "ANNOTATION_CREATED"}).json()["status"] == "ok"
