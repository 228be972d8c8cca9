"""jobs/list pages: the next page is asked for before this one is parsed, from a token read
off the end of its bytes; a wrong read never loses or repeats a job."""

from __future__ import annotations

import pytest

from bricksync.edges.workspace import Workspace, peek_page_token
from bricksync.emulator import EmulatorServer


@pytest.mark.parametrize("data,expected", [
    (b'{"jobs": [], "has_more": true, "next_page_token": "abc=="}', "abc=="),
    (b'{"jobs":[],"next_page_token":"x-1_2"}', "x-1_2"),
    (b'{"next_page_token" : "t" ,"jobs": []}', "t"),
    (b'{"jobs": [], "has_more": false}', None),
    (b'{"next_page_token": "a\\"b"}', None),  # escaped: left to the parser
    (b'{"next_page_token": 5}', None),
    (b'{"next_page_token": "unterminated', None),
    (b"", None),
])
def test_peek_page_token(data: bytes, expected: str | None) -> None:
    assert peek_page_token(data) == expected


def test_a_tag_named_like_the_token_does_not_lose_or_repeat_jobs(test_ws: EmulatorServer) -> None:
    w = test_ws.client()
    created = set()
    for i in range(230):
        job = w.api_client.do("POST", "/api/2.2/jobs/create", body={
            "name": f"job {i}", "tags": {"next_page_token": "bogus"},
            "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": f"/Workspace/dev/{i}"}}]})
        created.add(job["job_id"])
    ws = Workspace(w)
    listed = [j["job_id"] for page in ws.job_pages() for j in page]
    assert sorted(listed) == sorted(created)
    # 3 pages; the last one's guess ("bogus", from a tag) was checked and dropped
    assert ws.stats.counts["GET /api/2.2/jobs/list"] == 4
