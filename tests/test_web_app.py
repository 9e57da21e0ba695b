"""The reviewer UI and JSON API in-process (ASGI), over a real Redis: auth, CSRF, roles, escaping, the API."""

from __future__ import annotations

import re
import uuid

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from detector.core.findings import FARMING_RING, FOLLOWER_GROWTH, Finding
from detector.review.store import CaseStore
from detector.web.app import create_app
from detector.web.auth import AuthConfig, hash_password, token_digest

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

EVIL = '<script>alert("x")</script>'
REVIEWER_TOKEN, ADMIN_TOKEN = "tok-reviewer-" + "r" * 20, "tok-admin-" + "a" * 20
PAGES = ["/", "/queue", "/cases/ring-evil", "/accounts?id=x", "/allowlist", "/audit"]
API_GETS = ["/api/v1/cases", "/api/v1/cases/ring-evil", "/api/v1/stats", "/api/v1/allowlist", "/api/v1/me"]


def ring_finding() -> Finding:
    members = ("m1", "m2", "m3", EVIL)
    return Finding(
        case_id="ring-evil",
        scheme=FARMING_RING,
        accounts=tuple(sorted(members)),
        score=0.91,
        flagged_ts=1_700_000_000.0,
        first_event_ts=1_699_990_000.0,
        last_event_ts=1_700_000_000.0,
        model_version="test-1",
        evidence={
            "summary": f"ring around {EVIL}",
            "members": sorted(members),
            "edges": [[a, b, 1_700_000_000.0] for a in members for b in members if a != b],
            "top_features": [{"name": "inflow_closure", "value": 1.0, "contribution": 2.5}],
            "sample_event_ids": [f"evt-{EVIL}"],
            "member_facts": [
                {
                    "account": m,
                    "created_ts": 1_699_000_000.0 + 60 * i,
                    "first_seen_ts": 1_699_990_000.0,
                    "followers": 2,
                    "following": 900,
                    "posts": 3,
                    # The first member came back after 91 days without acting; the others never went quiet.
                    "returned_ts": 1_699_990_000.0 if i == 0 else None,
                    "idle_days_before": 91.4 if i == 0 else None,
                    "tied_inside_since_ts": 1_699_950_000.0,
                    "boosts_members": 3,
                    "boosts_others": i,
                    "boosted_by_members": 3,
                    "boosted_by_others": 0,
                }
                for i, m in enumerate(sorted(members))
            ],  # fmt: skip
            "known_in_common": [
                {"account": "trader7", "members": ["m1", "m2"]},
                {"account": EVIL, "members": ["m1", "m3"]},
            ],
        },
    )


def growth_finding() -> Finding:
    window = {"start": 1_699_900_000.0, "end": 1_700_000_000.0, "new_followers": 400, "baseline_per_day": 3.0}
    window |= {"fresh_share": 0.97, "follow_heavy_share": 0.91, "batch_share": 0.45}
    return Finding(
        "growth-m1", FOLLOWER_GROWTH, ("m1",), 0.7, 1_700_000_000.0, 1_699_900_000.0, 1_700_000_000.0, "test-1",
        {"summary": "burst", "burst_window": window, "creation_batches": [
            {"first_created_ts": 1_699_000_000.0, "last_created_ts": 1_699_000_420.0, "followers": 180}]},
    )  # fmt: skip


@pytest.fixture
async def store(redis_url: str):
    client = aioredis.from_url(redis_url, decode_responses=True)
    store = CaseStore(client, prefix=f"test-{uuid.uuid4().hex[:12]}:")
    await store.upsert_finding(ring_finding())
    await store.upsert_finding(growth_finding())
    yield store
    keys = [k async for k in client.scan_iter(match=store.keys.prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def auth() -> AuthConfig:
    users = f"alice:reviewer:{hash_password('alice-pw')},root:admin:{hash_password('root-pw')}"
    tokens = f"bot:reviewer:{token_digest(REVIEWER_TOKEN)},ops:admin:{token_digest(ADMIN_TOKEN)}"
    return AuthConfig.from_strings(users, tokens, secret="test-secret")


@pytest.fixture
async def web(store: CaseStore, auth: AuthConfig):
    app = create_app(store, auth, maintain_every=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def login(web: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    page = await web.get("/login")
    return await web.post("/login", data={"username": name, "password": password, "csrf": csrf_of(page.text)})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------- authentication
async def test_every_page_needs_a_login(web: httpx.AsyncClient):
    for path in PAGES:
        response = await web.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/login"), path
    for path in ["/queue/claim-next", "/cases/ring-evil/claim", "/cases/ring-evil/decide", "/allowlist"]:
        assert (await web.post(path, data={"csrf": "x"})).status_code == 303, path


async def test_every_api_route_needs_a_token(web: httpx.AsyncClient):
    for path in [*API_GETS, "/openapi.json"]:
        assert (await web.get(path)).status_code == 401, path
        assert (await web.get(path, headers=bearer("wrong"))).status_code == 401, path
    assert (await web.post("/api/v1/cases/ring-evil/claim")).status_code == 401
    await login(web, "alice", "alice-pw")  # a session cookie does not open the API
    assert (await web.get("/api/v1/cases")).status_code == 401


async def test_login(web: httpx.AsyncClient):
    page = await web.get("/login")
    assert page.status_code == 200 and "gsd_session" in page.cookies
    no_csrf = await web.post("/login", data={"username": "alice", "password": "alice-pw"})
    assert no_csrf.status_code == 403
    assert (await login(web, "alice", "wrong")).status_code == 401
    assert (await login(web, "nobody", "alice-pw")).status_code == 401
    ok = await login(web, "alice", "alice-pw")
    assert (ok.status_code, ok.headers["location"]) == (303, "/queue")
    queue = await web.get("/queue")
    assert queue.status_code == 200 and "alice (reviewer)" in queue.text
    assert "ring-evil" in queue.text and "growth-m1" in queue.text
    await web.post("/logout", data={"csrf": csrf_of(queue.text)})
    assert (await web.get("/queue")).status_code == 303


async def test_a_forged_cookie_is_refused(web: httpx.AsyncClient, auth: AuthConfig):
    from detector.web.auth import Session

    forged = AuthConfig({}, {}, "another-secret").sign_session(Session("root", "t", 4e9))
    web.cookies.set("gsd_session", forged)
    assert (await web.get("/queue")).status_code == 303
    web.cookies.set("gsd_session", auth.sign_session(Session("ghost", "t", 4e9)))  # signed, but no such user
    assert (await web.get("/queue")).status_code == 303


# ---------------------------------------------------------------------- pages
async def test_forms_need_the_session_csrf_token(web: httpx.AsyncClient, store: CaseStore):
    await login(web, "alice", "alice-pw")
    for token in (None, "forged"):
        data = {} if token is None else {"csrf": token}
        assert (await web.post("/cases/ring-evil/claim", data=data)).status_code == 403
    assert (await store.get("ring-evil")).state == "open"
    page = await web.get("/cases/ring-evil")
    claimed = await web.post("/cases/ring-evil/claim", data={"csrf": csrf_of(page.text)})
    assert claimed.status_code == 303
    assert (await store.get("ring-evil")).claimed_by == "alice"


async def test_user_controlled_strings_are_escaped(web: httpx.AsyncClient):
    await login(web, "alice", "alice-pw")
    for path in ["/queue", "/cases/ring-evil", "/cases/growth-m1", f"/accounts?id={EVIL}"]:
        html = (await web.get(path)).text
        assert EVIL not in html, path
    case = (await web.get("/cases/ring-evil")).text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in case
    assert "<svg" in case and case.count('class="node"') == 4


async def test_a_growth_case_shows_when_its_new_followers_were_created(web: httpx.AsyncClient):
    await login(web, "alice", "alice-pw")
    page = (await web.get("/cases/growth-m1")).text
    table = page[page.index('data-testid="creation-batches"') : page.index("</table>", page.index("creation-batches"))]
    assert "2023-11-03 08:26:40 – 2023-11-03 08:33:40" in table and ">180<" in table
    # Fans signing up to follow an account are created minutes apart too; what they have not done is follow hundreds.
    assert "<th>following hundreds, followed by few</th><td>91%</td>" in page
    assert "<th>fresh accounts</th><td>97%</td>" in page and "<th>batch-created</th><td>45%</td>" in page


async def test_a_ring_case_lists_each_members_age_profile_and_partners(web: httpx.AsyncClient):
    await login(web, "alice", "alice-pw")
    page = (await web.get("/cases/ring-evil")).text
    table = page[page.index('data-testid="member-facts"') : page.index("</table>", page.index("member-facts"))]
    assert table.count("<tr>") == 5  # the header and the four members
    # Created a minute apart: what a reviewer reads as accounts registered in bulk.
    assert "2023-11-03 08:26:40" in table and "2023-11-03 08:27:40" in table
    assert '<a href="/accounts?id=m1">m1</a>' in table and ">900<" in table
    assert table.count("days idle") == 1 and "2023-11-14 19:26:40, 91 days idle" in table
    assert table.count("2023-11-14 08:20:00") == 4  # each member's first trade with another member


async def test_a_ring_case_lists_whom_its_members_knew_in_common_before(web: httpx.AsyncClient):
    await login(web, "alice", "alice-pw")
    page = (await web.get("/cases/ring-evil")).text
    start = page.index('data-testid="known-in-common"')
    table = page[start : page.index("</table>", start)]
    assert '<a href="/accounts?id=trader7">trader7</a></td><td>m1, m2</td>' in table
    assert EVIL not in table and "&lt;script&gt;" in table
    # A growth case has no member table, so no such list.
    growth = await web.get("/cases/growth-m1")
    assert growth.status_code == 200 and 'data-testid="creation-batches"' in growth.text
    assert 'data-testid="known-in-common"' not in growth.text


async def test_claim_and_decide_through_the_pages(web: httpx.AsyncClient, store: CaseStore):
    await login(web, "alice", "alice-pw")
    queue = await web.get("/queue")
    claimed = await web.post("/queue/claim-next", data={"csrf": csrf_of(queue.text)})
    assert claimed.headers["location"] == "/cases/ring-evil"  # the higher score first
    page = await web.get("/cases/ring-evil")
    assert 'id="decide-form"' in page.text and "Claimed by <strong>alice</strong>" in page.text
    missing_reason = {"csrf": csrf_of(page.text), "decision": "confirmed", "policy": "inauthentic-engagement"}
    assert (await web.post("/cases/ring-evil/decide", data=missing_reason)).status_code == 422
    decided = await web.post("/cases/ring-evil/decide", data={**missing_reason, "reason": "closed loop"})
    assert decided.status_code == 303
    case = await store.get("ring-evil")
    assert (case.state, case.decision, case.decided_by, case.reason) == ("decided", "confirmed", "alice", "closed loop")
    page = await web.get("/cases/ring-evil")
    assert 'data-testid="decision">confirmed' in page.text and "decided" in page.text
    again = await web.post("/cases/ring-evil/decide", data={**missing_reason, "reason": "again"})
    assert again.status_code == 409 and "already confirmed" in again.text


async def test_queue_filters(web: httpx.AsyncClient):
    await login(web, "alice", "alice-pw")
    growth_only = (await web.get("/queue", params={"scheme": FOLLOWER_GROWTH})).text
    assert "growth-m1" in growth_only and "ring-evil" not in growth_only
    strong = (await web.get("/queue", params={"min_score": "0.9"})).text
    assert "ring-evil" in strong and "growth-m1" not in strong
    assert "No cases match" in (await web.get("/queue", params={"state": "dismissed"})).text
    assert (await web.get("/queue", params={"min_score": "lots"})).status_code == 422


async def test_reviewers_cannot_do_admin_things(web: httpx.AsyncClient, store: CaseStore):
    await login(web, "alice", "alice-pw")
    csrf = csrf_of((await web.get("/queue")).text)
    assert (await web.get("/audit")).status_code == 403
    assert (await web.post("/allowlist", data={"csrf": csrf, "account": "m1", "reason": "x"})).status_code == 403
    await store.decide("growth-m1", "root", "dismissed", "no-violation", "organic")
    assert (await web.post("/cases/growth-m1/reopen", data={"csrf": csrf, "reason": "x"})).status_code == 403
    assert (await store.get("growth-m1")).state == "decided"


async def test_admins_allowlist_and_reopen(web: httpx.AsyncClient, store: CaseStore):
    await login(web, "root", "root-pw")
    csrf = csrf_of((await web.get("/queue")).text)
    added = await web.post("/allowlist", data={"csrf": csrf, "account": EVIL, "reason": "test", "days": "2"})
    assert added.status_code == 303 and await store.is_allowlisted(EVIL)
    assert EVIL not in (await web.get("/allowlist")).text
    await store.decide("growth-m1", "root", "dismissed", "no-violation", "organic")
    reopened = await web.post("/cases/growth-m1/reopen", data={"csrf": csrf, "reason": "appeal"})
    assert reopened.status_code == 303 and (await store.get("growth-m1")).state == "open"
    audit = await web.get("/audit")
    assert audit.status_code == 200 and "reopened" in audit.text and "allowlisted" in audit.text


# ---------------------------------------------------------------------- API
async def test_the_api_works_the_queue(web: httpx.AsyncClient):
    reviewer, admin = bearer(REVIEWER_TOKEN), bearer(ADMIN_TOKEN)
    listed = (await web.get("/api/v1/cases", params={"state": "open"}, headers=reviewer)).json()
    assert [c["case_id"] for c in listed] == ["ring-evil", "growth-m1"] and "evidence" not in listed[0]
    claimed = await web.post("/api/v1/cases/claim-next", json={"scheme": FOLLOWER_GROWTH}, headers=reviewer)
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "bot"
    assert claimed.json()["evidence"]["burst_window"]["new_followers"] == 400
    assert (await web.post("/api/v1/cases/growth-m1/claim", headers=admin)).status_code == 409
    bad = {"decision": "confirmed", "policy": "nope", "reason": "x"}
    assert (await web.post("/api/v1/cases/growth-m1/decide", json=bad, headers=reviewer)).status_code == 422
    good = {"decision": "confirmed", "policy": "fake-followers", "reason": "bought", "note": "n"}
    decided = await web.post("/api/v1/cases/growth-m1/decide", json=good, headers=reviewer)
    assert decided.status_code == 200 and decided.json()["reviewer"] == "bot"
    audit = (await web.get("/api/v1/cases/growth-m1/audit", headers=reviewer)).json()
    assert [e["action"] for e in audit] == ["flagged", "claimed", "decided"]
    assert (await web.post("/api/v1/cases/growth-m1/reopen", json={"reason": "x"}, headers=reviewer)).status_code == 403
    assert (await web.post("/api/v1/cases/growth-m1/reopen", json={"reason": "x"}, headers=admin)).status_code == 200
    related = (await web.get("/api/v1/cases/growth-m1/related", headers=reviewer)).json()
    assert [c["case_id"] for c in related] == ["ring-evil"]
    assert (await web.get("/api/v1/cases/nope", headers=reviewer)).status_code == 404
    bulk = {**good, "case_ids": ["growth-m1", "ring-evil", "nope"]}
    assert (await web.post("/api/v1/cases/bulk-decide", json=bulk, headers=reviewer)).status_code == 403
    result = (await web.post("/api/v1/cases/bulk-decide", json=bulk, headers=admin)).json()
    assert result["decided"] == ["growth-m1", "ring-evil"] and list(result["failed"]) == ["nope"]
    assert (await web.post("/api/v1/cases/claim-next", json={}, headers=reviewer)).status_code == 204


async def test_admins_export_the_decisions_as_training_lines(web: httpx.AsyncClient, store: CaseStore):
    reviewer, admin = bearer(REVIEWER_TOKEN), bearer(ADMIN_TOKEN)
    await store.decide("growth-m1", "root", "dismissed", "no-violation", "organic")
    await store.decide("ring-evil", "root", "confirmed", "inauthentic-engagement", "closed loop")
    assert (await web.get("/api/v1/decisions/export", headers=reviewer)).status_code == 403
    exported = await web.get("/api/v1/decisions/export", headers=admin)
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/x-ndjson"
    rows = [orjson.loads(line) for line in exported.content.splitlines()]
    assert [(r["case_id"], r["label"]) for r in rows] == [("growth-m1", False), ("ring-evil", True)]
    assert rows == [row async for _, row in store.labelled_decisions()]  # what `detector cases export` writes


async def test_the_api_manages_allowlist_and_labels(web: httpx.AsyncClient):
    reviewer, admin = bearer(REVIEWER_TOKEN), bearer(ADMIN_TOKEN)
    entry = {"account": "a/b c", "reason": "partner"}
    assert (await web.post("/api/v1/allowlist", json=entry, headers=reviewer)).status_code == 403
    assert (await web.post("/api/v1/allowlist", json=entry, headers=admin)).json()["added_by"] == "ops"
    assert [e["account"] for e in (await web.get("/api/v1/allowlist", headers=reviewer)).json()] == ["a/b c"]
    assert (await web.delete("/api/v1/allowlist", params={"account": "a/b c"}, headers=admin)).status_code == 204
    assert (await web.delete("/api/v1/allowlist", params={"account": "a/b c"}, headers=admin)).status_code == 404
    label = {"account": "m1", "label": "known-farm", "note": "march"}
    assert (await web.post("/api/v1/labels", json=label, headers=reviewer)).status_code == 200
    assert [x["label"] for x in (await web.get("/api/v1/labels?account=m1", headers=reviewer)).json()] == ["known-farm"]
    removed = await web.delete("/api/v1/labels", params={"account": "m1", "label": "known-farm"}, headers=reviewer)
    assert removed.status_code == 204


async def test_openapi_describes_the_api(web: httpx.AsyncClient):
    spec = (await web.get("/openapi.json", headers=bearer(REVIEWER_TOKEN))).json()
    paths = spec["paths"]
    for path in ["/api/v1/cases", "/api/v1/cases/claim-next", "/api/v1/cases/{case_id}/decide",
                 "/api/v1/cases/bulk-decide", "/api/v1/allowlist", "/api/v1/labels",
                 "/api/v1/decisions/export"]:  # fmt: skip
        assert path in paths, path
    assert not any(p.startswith("/cases") or p == "/login" for p in paths)  # pages are not API
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


async def test_security_headers(web: httpx.AsyncClient):
    response = await web.get("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
