"""A reviewer's day in headless Chromium: log in, claim the next case, read its evidence, decide it by keyboard.

Runs the real app (uvicorn in a thread) over the session's real Redis. Screenshots of each step are kept in
``test-artifacts/browser/``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from detector.core.engine import Engine
from detector.core.events import Event
from detector.core.findings import FOLLOWER_GROWTH, Finding, stable_case_id
from detector.review.store import Case, CaseStore
from detector.web.app import create_app
from detector.web.auth import AuthConfig, hash_password

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PASSWORD = "correct horse battery staple"


async def seed(redis_url: str, prefix: str) -> list[str]:
    """Flag a farming ring through the real engine, and an account's follower burst."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    store = CaseStore(client, prefix=prefix)
    engine, members, t, n = Engine(), [f"farm{i}" for i in range(6)], 1_700_000_000.0, 0
    for a in members:
        for b in members:
            if a != b:
                t, n = t + 60, n + 1
                for finding in engine.process(Event(t, "endorse", a, b, id=f"evt{n}")):
                    await store.upsert_finding(finding)
    for day in range(3):  # the burst grows over three flags
        window = {"start": t + (day - 1) * 86400, "end": t + day * 86400, "new_followers": 200 * (day + 1),
                  "baseline_per_day": 1.5, "fresh_share": 0.9, "batch_share": 0.7}  # fmt: skip
        await store.upsert_finding(
            Finding(
                stable_case_id(FOLLOWER_GROWTH, "rising_star"),
                FOLLOWER_GROWTH,
                ("rising_star",),
                0.55 + 0.1 * day,
                t + day * 86400,
                window["start"],
                window["end"],
                "test-1",
                {
                    "summary": f"{window['new_followers']} new boosters in a day against 1.5/day",
                    "burst_window": window,
                    "top_features": [{"name": "growth_ratio", "value": 133.0, "contribution": 1.2}],
                    "sample_event_ids": ["f1", "f2", "f3"],
                },
            )  # fmt: skip
        )
    ids = [c.case_id for c in await store.list_cases(state="open")]
    await client.aclose()
    return ids


async def fetch(redis_url: str, prefix: str, case_id: str) -> Case:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        return await CaseStore(client, prefix=prefix).get(case_id)
    finally:
        await client.aclose()


async def claim_as(redis_url: str, prefix: str, case_id: str, reviewer: str) -> Case:
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        return await CaseStore(client, prefix=prefix).claim(case_id, reviewer)
    finally:
        await client.aclose()


async def cleanup(redis_url: str, prefix: str) -> None:
    client = aioredis.from_url(redis_url, decode_responses=True)
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def in_thread(coroutine):
    """Run a coroutine to completion from inside Playwright's sync API, which owns this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lease_seconds() -> float:
    return 900.0


@pytest.fixture
def server(redis_url: str, lease_seconds: float) -> Iterator[tuple[str, str, list[str]]]:
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    case_ids = asyncio.run(seed(redis_url, prefix))
    auth = AuthConfig.from_strings(f"rita:reviewer:{hash_password(PASSWORD)}", "", secret="browser-test")
    store = CaseStore(aioredis.from_url(redis_url, decode_responses=True), prefix=prefix, lease_seconds=lease_seconds)
    port = free_port()
    app = create_app(store, auth, maintain_every=5)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "the web server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", prefix, case_ids
    finally:
        uv.should_exit = True
        thread.join(10)
        asyncio.run(cleanup(redis_url, prefix))


@pytest.fixture
def page() -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), "headless Chromium is missing: apt-get install -y chromium"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        yield page
        browser.close()
        # No script errors and no CSP violations; a 409 is the app's answer to a lost claim, which tests check.
        assert [e for e in errors if "409 (Conflict)" not in e] == [], errors


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_reviewer_logs_in_claims_reads_the_evidence_and_decides(server, page: Page, redis_url: str):
    base, prefix, case_ids = server
    ring_id, growth_id = case_ids  # the ring scores higher, so it is first in the queue

    page.goto(base + "/queue")
    expect(page).to_have_url(base + "/login")
    shot(page, "01-login")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("user")).to_have_text("rita (reviewer)")
    expect(page.get_by_test_id("open-count")).to_have_text("2")
    shot(page, "02-queue")

    # "n" claims the next case: the ring, with its subgraph, features, sample events and history.
    page.keyboard.press("n")
    expect(page).to_have_url(f"{base}/cases/{ring_id}")
    expect(page.get_by_test_id("state")).to_contain_text("Claimed by rita")
    expect(page.locator("svg.ring-graph g.node")).to_have_count(6)
    expect(page.get_by_test_id("features")).to_contain_text("inflow closure")
    expect(page.get_by_test_id("samples")).to_contain_text("evt")
    # Each member's row: these events carried no profile, so its creation time is unknown, not made up.
    expect(page.get_by_test_id("member-facts").locator("tbody tr")).to_have_count(6)
    expect(page.get_by_test_id("member-facts")).to_contain_text("farm5")
    expect(page.get_by_test_id("member-facts").locator("tbody tr").first).to_contain_text("unknown")
    expect(page.get_by_test_id("audit")).to_contain_text("claimed")
    shot(page, "03-ring-claimed")

    # "c" picks "confirmed" and puts the cursor on the policy; Ctrl+Enter submits.
    page.keyboard.press("c")
    expect(page.locator("input[value=confirmed]")).to_be_checked()
    expect(page.locator("select[name=policy]")).to_be_focused()
    page.select_option("select[name=policy]", "inauthentic-engagement")
    page.fill("textarea[name=reason]", "six accounts endorsing each other in a closed loop")
    shot(page, "04-ring-deciding")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("decision")).to_have_text("confirmed")
    expect(page.get_by_test_id("audit")).to_contain_text("decided")
    shot(page, "05-ring-decided")
    ring = in_thread(fetch(redis_url, prefix, ring_id))
    assert (ring.state, ring.decision, ring.decided_by, ring.policy) == (
        "decided", "confirmed", "rita", "inauthentic-engagement",
    )  # fmt: skip

    # Next: the follower burst, drawn against the account's own baseline; dismissed entirely by keyboard.
    page.keyboard.press("n")
    expect(page).to_have_url(f"{base}/cases/{growth_id}")
    expect(page.locator("svg.growth-chart > rect.burst")).to_have_count(3)
    expect(page.locator("svg.growth-chart")).to_contain_text("1.5/day")
    shot(page, "06-growth-claimed")
    page.keyboard.press("d")
    page.select_option("select[name=policy]", "no-violation")
    page.keyboard.press("Escape")  # leave the policy field, then "d" again jumps straight to the reason
    page.keyboard.press("d")
    expect(page.locator("textarea[name=reason]")).to_be_focused()
    page.keyboard.type("a real creator's video went viral")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("decision")).to_have_text("dismissed")
    shot(page, "07-growth-decided")

    page.keyboard.press("n")  # nothing left
    expect(page.get_by_role("status")).to_contain_text("No open case matches")
    expect(page.get_by_test_id("open-count")).to_have_text("0")
    shot(page, "08-queue-empty")
    assert in_thread(fetch(redis_url, prefix, growth_id)).decided_by == "rita"


def log_in(page: Page, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("user")).to_have_text("rita (reviewer)")


@pytest.mark.parametrize("lease_seconds", [1.5])
def test_an_active_reviewer_keeps_the_case_and_is_told_when_it_is_lost(server, page: Page, redis_url: str):
    base, prefix, (ring_id, _) = server
    log_in(page, base)
    page.keyboard.press("n")
    expect(page.get_by_test_id("state")).to_contain_text("Claimed by rita")
    for _ in range(8):  # 4 s of reading, well past the 1.5 s lease: the page renews it
        page.mouse.move(100 + _ * 10, 300)
        page.wait_for_timeout(500)
    assert in_thread(fetch(redis_url, prefix, ring_id)).claimed_by == "rita"
    page.wait_for_timeout(5000)  # idle: the lease lapses and another reviewer takes the case
    assert in_thread(claim_as(redis_url, prefix, ring_id, "sam")).claimed_by == "sam"
    page.mouse.move(50, 50)
    expect(page.locator("#lease-lost")).to_be_visible(timeout=5000)
    shot(page, "09-lease-lost")
