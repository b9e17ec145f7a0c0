"""WebSockets: submit on /ws, ack, then the job's events; /jobs/{id}/ws; refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect

from plugins.api import ApiEnv, read_sse, wait_status

TERMINAL = {"COMPLETED", "FAILED", "CANCELED"}


def _ws_url(api: ApiEnv, path: str) -> str:
    return api.url.replace("http://", "ws://") + path


def _until_terminal(ws: Any, job_id: str) -> list[dict[str, Any]]:
    events = []
    while True:
        message = json.loads(ws.recv(timeout=60))
        if message.get("job_id") != job_id or message["type"] not in ("state", "progress"):
            continue
        events.append(message)
        if message["type"] == "state" and message["data"]["status"] in TERMINAL:
            return events


def test_submit_and_stream_on_one_socket(api: ApiEnv) -> None:
    body = {
        "type": "submit",
        "request_id": 7,
        "name": "ws",
        "task": {"identifier": "Sleep", "input": {"seconds": 0.5, "steps": 5}},
    }
    with connect(_ws_url(api, "/ws"), additional_headers=api.headers()) as ws:
        ws.send(json.dumps(body))
        ack = json.loads(ws.recv(timeout=30))
        assert ack["type"] == "ack" and ack["request_id"] == 7 and ack["status"] == "PENDING"
        job_id = ack["job_id"]
        assert ack["status_url"].endswith(f"/jobs/{job_id}/status")
        events = _until_terminal(ws, job_id)

        # Errors are answered on the same socket, which stays usable.
        ws.send(json.dumps({"type": "submit", "name": "bad", "task": {"identifier": "Nope"}}))
        error = json.loads(ws.recv(timeout=30))
        assert error["type"] == "error" and error["status"] == 422
        assert error["detail"][0]["loc"] == ["body", "task", "identifier"]
        ws.send("not json")
        assert json.loads(ws.recv(timeout=30))["type"] == "error"
        ws.send(json.dumps({"type": "dance"}))
        assert json.loads(ws.recv(timeout=30))["detail"][0]["loc"] == ["type"]

        # Subscribing to a finished job replays it.
        ws.send(json.dumps({"type": "subscribe", "job_id": job_id}))
        assert _until_terminal(ws, job_id) == events

    with api.http() as http:
        sse = read_sse(http, job_id)
    assert [e["id"] for e in events] == [e["id"] for e in sse]
    assert [e["data"] for e in events] == [e["data"] for e in sse]
    assert [e["data"]["status"] for e in events if e["type"] == "state"] == [
        "PENDING",
        "PROCESSING",
        "COMPLETED",
    ]
    assert events[-2]["data"]["progress"] == [{"label": "sleep", "total": 5, "done": 5}]


def test_job_socket_streams_and_closes(api: ApiEnv) -> None:
    with api.http() as http:
        job_id = http.post(
            "/jobs", json={"name": "w", "task": {"identifier": "Sleep", "input": {"seconds": 0.3}}}
        ).json()["id"]
        # ?api_key= works where headers cannot be set (browsers).
        url = _ws_url(api, f"/jobs/{job_id}/ws?api_key={api.keys['alice']}")
        with connect(url) as ws:
            events = _until_terminal(ws, job_id)
            with pytest.raises(ConnectionClosedOK):  # closed after the terminal event
                ws.recv(timeout=10)
        assert ws.close_code == 1000
        wait_status(http, job_id, TERMINAL)
        with connect(
            _ws_url(api, f"/jobs/{job_id}/ws?last_event_id={events[-2]['id']}"),
            additional_headers=api.headers(),
        ) as ws:
            assert _until_terminal(ws, job_id) == events[-1:]
        done_url = _ws_url(api, f"/jobs/{job_id}/ws?last_event_id={events[-1]['id']}")
        # Nothing left to send: the server closes at once.
        with (
            connect(done_url, additional_headers=api.headers()) as ws,
            pytest.raises(ConnectionClosedOK),
        ):
            ws.recv(timeout=10)


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/ws", {}, 401),
        ("/ws", {"Authorization": "Bearer cvk_wrong"}, 401),
        ("/jobs/00000000-0000-4000-8000-000000000000/ws", "alice", 404),
        ("/jobs/not-a-uuid/ws", "alice", 422),
    ],
)
def test_refused_before_the_handshake(api: ApiEnv, path: str, headers: Any, status: int) -> None:
    if headers == "alice":
        headers = api.headers()
    with (
        pytest.raises(InvalidStatus) as info,
        connect(_ws_url(api, path), additional_headers=headers),
    ):
        pass
    assert info.value.response.status_code == status
    body = json.loads(info.value.response.body)
    assert body["detail"][0]["loc"]
