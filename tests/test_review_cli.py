"""``detector cases`` against a real Redis: a reviewer's round trip from a terminal."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
import redis.asyncio as aioredis

from detector.cli import main
from detector.core.findings import FOLLOWER_GROWTH, Finding
from detector.review.store import CaseStore

pytestmark = pytest.mark.integration


async def seed(redis_url: str, prefix: str) -> None:
    client = aioredis.from_url(redis_url, decode_responses=True)
    finding = Finding("growth-cli", FOLLOWER_GROWTH, ("c:li",), 0.8, 1.0, 0.0, 1.0, "test-1", {"summary": "burst"})
    await CaseStore(client, prefix=prefix).upsert_finding(finding)
    await client.aclose()


async def cleanup(redis_url: str, prefix: str) -> None:
    client = aioredis.from_url(redis_url, decode_responses=True)
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def prefix(redis_url: str, monkeypatch: pytest.MonkeyPatch):
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    for name in ("DETECTOR_KAFKA_BOOTSTRAP", "DETECTOR_SETTINGS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DETECTOR_REDIS_URL", redis_url)
    monkeypatch.setenv("DETECTOR_REVIEW_PREFIX", prefix)
    asyncio.run(seed(redis_url, prefix))
    yield prefix
    asyncio.run(cleanup(redis_url, prefix))


def cases(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    code = main(["cases", *argv])
    return code, capsys.readouterr().out


def test_list_claim_decide_reopen_from_the_terminal(prefix: str, capsys: pytest.CaptureFixture):
    code, out = cases(capsys, "list", "--state", "open")
    assert code == 0 and out.startswith("growth-cli\tfollower_growth\t0.80\topen\tc:li")
    assert cases(capsys, "--as", "ann", "claim", "--next")[0] == 0
    assert cases(capsys, "--as", "bob", "claim", "growth-cli") == (1, "")  # held by ann: an error, no output
    code, out = cases(capsys, "--as", "ann", "--json", "decide", "growth-cli", "confirmed",
                      "--policy", "fake-followers", "--reason", "bought")  # fmt: skip
    assert code == 0 and orjson.loads(out)["reviewer"] == "ann"
    assert cases(capsys, "--as", "root", "reopen", "growth-cli", "--reason", "appeal")[0] == 0
    code, out = cases(capsys, "--json", "show", "growth-cli")
    shown = orjson.loads(out)
    assert shown["state"] == "open"
    assert [e["action"] for e in shown["audit"]] == ["flagged", "claimed", "decided", "reopened"]
    assert cases(capsys, "claim", "--next", "--scheme", "farming_ring") == (1, "no open case\n")


def test_decided_cases_export_as_training_lines(prefix: str, capsys: pytest.CaptureFixture, tmp_path):
    out = tmp_path / "decisions.jsonl"
    assert cases(capsys, "export", "--out", str(out)) == (0, f"{out}: exported=0\n")
    assert out.read_bytes() == b""
    cases(capsys, "--as", "ann", "decide", "growth-cli", "dismissed", "--policy", "no-violation", "--reason", "viral")
    assert cases(capsys, "export", "--out", str(out))[0] == 0
    [line] = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert (line["case_id"], line["model"], line["decision"], line["label"]) == (
        "growth-cli",
        FOLLOWER_GROWTH,
        "dismissed",
        False,
    )
    assert line["reviewer"] == "ann" and line["policy"] == "no-violation" and line["features"] == {}


def test_allowlist_from_the_terminal(prefix: str, capsys: pytest.CaptureFixture):
    assert cases(capsys, "--as", "root", "allowlist", "add", "c:li", "--reason", "partner", "--days", "1")[0] == 0
    code, out = cases(capsys, "--json", "allowlist", "list")
    assert [e["account"] for e in orjson.loads(out)] == ["c:li"]
    assert cases(capsys, "--as", "root", "allowlist", "remove", "c:li")[0] == 0
    assert cases(capsys, "--as", "root", "allowlist", "remove", "c:li")[0] == 1
    assert cases(capsys, "allowlist", "list") == (0, "allowlist is empty\n")
