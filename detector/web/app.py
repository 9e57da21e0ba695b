"""``detector web``: the reviewer UI (server-rendered pages) and the JSON API, both over the review case store.

Every route needs a login (pages: session cookie; API: bearer token), except the login page and static files.
Pages post forms carrying the session's CSRF token; the API takes bearer tokens only, which a browser never
sends on its own, so it needs none. Templates autoescape everything. See docs/review.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import hmac
import logging
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlencode

import orjson
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from detector.core.findings import FARMING_RING, SCHEMES
from detector.review.config import store_from_env
from detector.review.policies import POLICIES
from detector.review.sink import KafkaDecisionSink
from detector.review.store import (
    DECISIONS,
    STATES,
    CaseConflict,
    CaseNotFound,
    CaseStore,
    InvalidRequest,
    ReviewError,
)
from detector.settings import Settings
from detector.web import svg
from detector.web.auth import ADMIN, AuthConfig, Session, User, hash_password, token_digest

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "gsd_session"
PAGE_SIZE = 50
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
_STATUS = {CaseNotFound: 404, CaseConflict: 409, InvalidRequest: 422}


# ---------------------------------------------------------------------- API models
class CaseSummaryOut(BaseModel):
    case_id: str
    scheme: str
    state: Literal["open", "claimed", "decided"]
    decision: str
    score: float
    priority: float
    accounts: list[str]
    summary: str
    created_at: float
    updated_at: float
    flagged_ts: float
    first_event_ts: float
    last_event_ts: float
    model_version: str
    revisions: int
    claimed_by: str
    claimed_at: float | None
    lease_expires_at: float | None
    decided_by: str
    decided_at: float | None
    policy: str
    reason: str
    note: str
    decision_id: str
    evidence_after_decision: int


class CaseOut(CaseSummaryOut):
    evidence: dict
    history: list[dict]


class ClaimNextIn(BaseModel):
    scheme: str | None = None
    min_score: float | None = None
    max_score: float | None = None


class DecideIn(BaseModel):
    decision: Literal["confirmed", "dismissed", "escalated"]
    policy: str = Field(description="a code from GET /api/v1/policies")
    reason: str = Field(min_length=1, max_length=2000)
    note: str | None = Field(default=None, max_length=2000)


class BulkDecideIn(DecideIn):
    case_ids: list[str] = Field(min_length=1, max_length=500)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class DecisionOut(BaseModel):
    decision_id: str
    case_id: str
    scheme: str
    accounts: list[str]
    decision: str
    policy: str
    reason: str
    note: str | None
    reviewer: str
    decided_at: float
    score: float
    model_version: str
    features: dict
    supersedes: str | None
    bulk_id: str | None


class BulkOut(BaseModel):
    bulk_id: str
    decided: list[str]
    failed: dict[str, str]


class AuditOut(BaseModel):
    id: str
    ts: float
    actor: str
    action: str
    case_id: str
    details: dict


class AllowIn(BaseModel):
    account: str = Field(min_length=1, max_length=256)
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: float | None = None


class AllowOut(BaseModel):
    account: str
    reason: str
    added_by: str
    added_at: float
    expires_at: float | None


class LabelIn(BaseModel):
    account: str = Field(min_length=1, max_length=256)
    label: str = Field(min_length=1, max_length=64)
    expires_at: float | None = None
    note: str | None = Field(default=None, max_length=2000)


class LabelOut(BaseModel):
    account: str
    label: str
    added_by: str
    added_at: float
    expires_at: float | None
    note: str


class Me(BaseModel):
    name: str
    role: str


# ---------------------------------------------------------------------- auth dependencies
class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to the login page."""


def _auth(request: Request) -> AuthConfig:
    return request.app.state.auth


def _store(request: Request) -> CaseStore:
    return request.app.state.store


def page_user(request: Request) -> User:
    """The logged-in user of a page request (their session is kept on ``request.state``)."""
    auth = _auth(request)
    session = auth.read_session(request.cookies.get(SESSION_COOKIE))
    user = auth.user(session.user) if session and session.user else None
    if user is None:
        raise LoginRequired
    request.state.session, request.state.user = session, user
    return user


async def form_user(request: Request, user: Annotated[User, Depends(page_user)]) -> User:
    """A page user whose form carries the session's CSRF token."""
    form = await request.form()
    token = form.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token, request.state.session.csrf):
        raise HTTPException(403, "The form expired or did not come from this site; reload the page and retry.")
    return user


def form_admin(user: Annotated[User, Depends(form_user)]) -> User:
    if not user.is_admin:
        raise HTTPException(403, "Only admins may do this.")
    return user


def page_admin(user: Annotated[User, Depends(page_user)]) -> User:
    if not user.is_admin:
        raise HTTPException(403, "Only admins may see this page.")
    return user


_bearer = HTTPBearer(auto_error=False, description="An API token from DETECTOR_WEB_TOKENS")


def api_user(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    user = _auth(request).token_user(credentials.credentials) if credentials else None
    if user is None:
        raise HTTPException(401, "A valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return user


def api_admin(user: Annotated[User, Depends(api_user)]) -> User:
    if not user.is_admin:
        raise HTTPException(403, "Admin role required")
    return user


StoreDep = Annotated[CaseStore, Depends(_store)]
ApiUser = Annotated[User, Depends(api_user)]
ApiAdmin = Annotated[User, Depends(api_admin)]
PageUser = Annotated[User, Depends(page_user)]
FormUser = Annotated[User, Depends(form_user)]


# ---------------------------------------------------------------------- JSON API
api = APIRouter(prefix="/api/v1", tags=["review"])


@api.get("/me", response_model=Me)
async def api_me(user: ApiUser) -> Me:
    return Me(name=user.name, role=user.role)


@api.get("/policies", response_model=dict[str, str])
async def api_policies(user: ApiUser) -> dict[str, str]:
    return POLICIES


@api.get("/stats", response_model=dict[str, int])
async def api_stats(store: StoreDep, user: ApiUser) -> dict[str, int]:
    return {**await store.counts(), "decisions_pending_publication": await store.pending_decisions()}


@api.get("/cases", response_model=list[CaseSummaryOut])
async def api_list_cases(
    store: StoreDep,
    user: ApiUser,
    state: Annotated[str | None, Query(description="open, claimed, decided or a decision")] = None,
    scheme: Literal["farming_ring", "follower_growth"] | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    min_age_seconds: Annotated[float | None, Query(ge=0)] = None,
    max_age_seconds: Annotated[float | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CaseSummaryOut]:
    cases = await store.list_cases(
        state=state, scheme=scheme, min_score=min_score, max_score=max_score,
        min_age_seconds=min_age_seconds, max_age_seconds=max_age_seconds, limit=limit, offset=offset,
    )  # fmt: skip
    return [CaseSummaryOut(**c.to_dict()) for c in cases]


@api.get(
    "/decisions/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "one decided case a line"}},
)
async def api_export_decisions(store: StoreDep, user: ApiAdmin) -> StreamingResponse:
    """Every decided case as a training line for `detector train --decisions` (what `detector cases export`
    writes), streamed a page of cases at a time."""

    async def lines() -> AsyncIterator[bytes]:
        async for _, row in store.labelled_decisions():
            if row is not None:  # decided before decision records were kept
                yield orjson.dumps(row) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@api.post("/cases/claim-next", response_model=CaseOut, responses={204: {"description": "no open case matches"}})
async def api_claim_next(body: ClaimNextIn, store: StoreDep, user: ApiUser) -> CaseOut | Response:
    case = await store.claim_next(user.name, scheme=body.scheme, min_score=body.min_score, max_score=body.max_score)
    return Response(status_code=204) if case is None else CaseOut(**case.to_dict())


@api.post("/cases/bulk-decide", response_model=BulkOut)
async def api_bulk_decide(body: BulkDecideIn, store: StoreDep, user: ApiAdmin) -> BulkOut:
    result = await store.bulk_decide(body.case_ids, user.name, body.decision, body.policy, body.reason, body.note)
    return BulkOut(bulk_id=result.bulk_id, decided=result.decided, failed=result.failed)


@api.get("/cases/{case_id}", response_model=CaseOut)
async def api_get_case(case_id: str, store: StoreDep, user: ApiUser) -> CaseOut:
    return CaseOut(**(await store.get(case_id)).to_dict())


@api.get("/cases/{case_id}/audit", response_model=list[AuditOut])
async def api_case_audit(case_id: str, store: StoreDep, user: ApiUser) -> list[AuditOut]:
    await store.get(case_id)  # 404 for an unknown case rather than an empty history
    return [AuditOut(**asdict(e)) for e in await store.case_audit(case_id)]


@api.get("/cases/{case_id}/related", response_model=list[CaseSummaryOut])
async def api_related(case_id: str, store: StoreDep, user: ApiUser) -> list[CaseSummaryOut]:
    return [CaseSummaryOut(**c.to_dict()) for c in await store.related_cases(case_id)]


@api.post("/cases/{case_id}/claim", response_model=CaseOut)
async def api_claim(case_id: str, store: StoreDep, user: ApiUser) -> CaseOut:
    return CaseOut(**(await store.claim(case_id, user.name)).to_dict())


@api.post("/cases/{case_id}/release", status_code=204)
async def api_release(case_id: str, store: StoreDep, user: ApiUser) -> None:
    await store.release(case_id, user.name)


@api.post("/cases/{case_id}/decide", response_model=DecisionOut)
async def api_decide(case_id: str, body: DecideIn, store: StoreDep, user: ApiUser) -> DecisionOut:
    record = await store.decide(case_id, user.name, body.decision, body.policy, body.reason, body.note)
    return DecisionOut(**record)


@api.post("/cases/{case_id}/reopen", response_model=CaseOut)
async def api_reopen(case_id: str, body: ReasonIn, store: StoreDep, user: ApiAdmin) -> CaseOut:
    return CaseOut(**(await store.reopen(case_id, user.name, body.reason)).to_dict())


@api.get("/audit", response_model=list[AuditOut])
async def api_audit(
    store: StoreDep, user: ApiAdmin, count: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditOut]:
    return [AuditOut(**asdict(e)) for e in await store.recent_audit(count)]


@api.get("/allowlist", response_model=list[AllowOut])
async def api_allowlist(store: StoreDep, user: ApiUser) -> list[AllowOut]:
    return [AllowOut(**asdict(e)) for e in await store.allowlist()]


@api.post("/allowlist", response_model=AllowOut)
async def api_allow(body: AllowIn, store: StoreDep, user: ApiAdmin) -> AllowOut:
    return AllowOut(**asdict(await store.allow(body.account, user.name, body.reason, body.expires_at)))


@api.delete("/allowlist", status_code=204)
async def api_disallow(account: str, store: StoreDep, user: ApiAdmin) -> None:
    if not await store.disallow(account, user.name):
        raise CaseNotFound(f"{account!r} is not allowlisted")


@api.get("/labels", response_model=list[LabelOut])
async def api_labels(account: str, store: StoreDep, user: ApiUser) -> list[LabelOut]:
    return [LabelOut(**asdict(label)) for label in await store.labels(account)]


@api.post("/labels", response_model=LabelOut)
async def api_add_label(body: LabelIn, store: StoreDep, user: ApiUser) -> LabelOut:
    label = await store.add_label(body.account, body.label, user.name, body.expires_at, body.note)
    return LabelOut(**asdict(label))


@api.delete("/labels", status_code=204)
async def api_remove_label(account: str, label: str, store: StoreDep, user: ApiUser) -> None:
    if not await store.remove_label(account, label, user.name):
        raise CaseNotFound(f"{account!r} has no label {label!r}")


# ---------------------------------------------------------------------- pages
pages = APIRouter(include_in_schema=False)


@pages.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    session = _auth(request).read_session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        session = _auth(request).new_session()
    return _with_session(request, render(request, "login.html", session=session), session)


@pages.post("/login")
async def login(request: Request) -> Response:
    auth = _auth(request)
    form = await request.form()
    session = auth.read_session(request.cookies.get(SESSION_COOKIE))
    token = form.get("csrf")
    if session is None or not isinstance(token, str) or not hmac.compare_digest(token, session.csrf):
        session = auth.new_session()
        page = render(request, "login.html", session=session, error="The form expired; please try again.")
        return _with_session(request, page, session, status=403)
    user = auth.login(str(form.get("username", "")), str(form.get("password", "")))
    if user is None:
        log.warning("failed login for %r", str(form.get("username", ""))[:64])
        return render(request, "login.html", session=session, error="Wrong name or password.", status=401)
    log.info("login: %s", user.name)
    # A fresh session (and CSRF token) on login, so a token planted before login is useless.
    return _with_session(request, RedirectResponse("/queue", 303), auth.new_session(user.name))


@pages.post("/logout")
async def logout(request: Request, user: FormUser) -> Response:
    return _with_session(request, RedirectResponse("/login", 303), _auth(request).new_session())


@pages.get("/")
async def home(user: PageUser) -> RedirectResponse:
    return RedirectResponse("/queue", 303)


@pages.get("/queue")
async def queue_page(
    request: Request,
    store: StoreDep,
    user: PageUser,
    state: str = "open",
    scheme: str = "",
    min_score: str = "",
    max_score: str = "",
    min_age_hours: str = "",
    max_age_hours: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
    empty: str = "",
) -> HTMLResponse:
    filters = {"state": state, "scheme": scheme, "min_score": min_score, "max_score": max_score,
               "min_age_hours": min_age_hours, "max_age_hours": max_age_hours}  # fmt: skip
    cases = await store.list_cases(
        state=state or None,
        scheme=scheme or None,
        min_score=_number(min_score),
        max_score=_number(max_score),
        min_age_seconds=_hours(min_age_hours),
        max_age_seconds=_hours(max_age_hours),
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request, "queue.html", cases=cases[:PAGE_SIZE], more=len(cases) > PAGE_SIZE, page=page, filters=filters,
        query=query, counts=await store.counts(), states=(*STATES, *DECISIONS), schemes=SCHEMES, empty=bool(empty),
    )  # fmt: skip


@pages.post("/queue/claim-next")
async def claim_next_page(request: Request, store: StoreDep, user: FormUser) -> RedirectResponse:
    form = await request.form()
    scheme = str(form.get("scheme") or "")
    case = await store.claim_next(
        user.name,
        scheme=scheme or None,
        min_score=_number(str(form.get("min_score") or "")),
        max_score=_number(str(form.get("max_score") or "")),
    )
    if case is None:
        return RedirectResponse("/queue?" + urlencode({"empty": 1, "scheme": scheme}), 303)
    return RedirectResponse(f"/cases/{case.case_id}", 303)


@pages.get("/cases/{case_id}")
async def case_page(request: Request, case_id: str, store: StoreDep, user: PageUser) -> HTMLResponse:
    case = await store.get(case_id)
    evidence = case.evidence
    shown = case.accounts[:60]
    labels = dict(zip(shown, await asyncio.gather(*(store.labels(a) for a in shown)), strict=True))
    picture = (
        svg.ring_graph(evidence.get("members") or case.accounts, evidence.get("edges") or [])
        if case.scheme == FARMING_RING
        else svg.growth_chart(case.history)
    )
    return render(
        request, "case.html", case=case, evidence=evidence, picture=picture, labels=labels,
        related=await store.related_cases(case_id), audit=await store.case_audit(case_id),
        policies=POLICIES, decisions=DECISIONS,
        mine=case.state == "claimed" and case.claimed_by == user.name,
        lease_seconds=store.lease_seconds,
    )  # fmt: skip


@pages.post("/cases/{case_id}/claim")
async def claim_page(case_id: str, store: StoreDep, user: FormUser) -> RedirectResponse:
    await store.claim(case_id, user.name)
    return RedirectResponse(f"/cases/{case_id}", 303)


@pages.post("/cases/{case_id}/release")
async def release_page(case_id: str, store: StoreDep, user: FormUser) -> RedirectResponse:
    await store.release(case_id, user.name)
    return RedirectResponse("/queue", 303)


@pages.post("/cases/{case_id}/decide")
async def decide_page(request: Request, case_id: str, store: StoreDep, user: FormUser) -> RedirectResponse:
    form = await request.form()
    await store.decide(
        case_id, user.name, str(form.get("decision", "")), str(form.get("policy", "")),
        str(form.get("reason", "")), str(form.get("note", "")) or None,
    )  # fmt: skip
    return RedirectResponse(f"/cases/{case_id}", 303)


@pages.post("/cases/{case_id}/reopen")
async def reopen_page(
    request: Request, case_id: str, store: StoreDep, user: Annotated[User, Depends(form_admin)]
) -> RedirectResponse:
    form = await request.form()
    await store.reopen(case_id, user.name, str(form.get("reason", "")))
    return RedirectResponse(f"/cases/{case_id}", 303)


@pages.get("/accounts")
async def account_page(
    request: Request, store: StoreDep, user: PageUser, id: Annotated[str, Query(min_length=1)]
) -> HTMLResponse:
    allowed = await store.allow_entry(id)
    return render(
        request, "account.html", account=id, cases=await store.cases_of(id), labels=await store.labels(id),
        allowed=allowed,
    )  # fmt: skip


@pages.post("/accounts/labels")
async def add_label_page(request: Request, store: StoreDep, user: FormUser) -> RedirectResponse:
    form = await request.form()
    account = str(form.get("account", ""))
    days = _number(str(form.get("days") or ""))
    expires = time.time() + days * 86400 if days else None
    await store.add_label(account, str(form.get("label", "")), user.name, expires, str(form.get("note", "")))
    return RedirectResponse("/accounts?" + urlencode({"id": account}), 303)


@pages.post("/accounts/labels/remove")
async def remove_label_page(request: Request, store: StoreDep, user: FormUser) -> RedirectResponse:
    form = await request.form()
    account = str(form.get("account", ""))
    await store.remove_label(account, str(form.get("label", "")), user.name)
    return RedirectResponse("/accounts?" + urlencode({"id": account}), 303)


@pages.get("/allowlist")
async def allowlist_page(request: Request, store: StoreDep, user: PageUser) -> HTMLResponse:
    return render(request, "allowlist.html", entries=await store.allowlist())


@pages.post("/allowlist")
async def allow_page(request: Request, store: StoreDep, user: Annotated[User, Depends(form_admin)]) -> Response:
    form = await request.form()
    days = _number(str(form.get("days") or ""))
    expires = time.time() + days * 86400 if days else None
    await store.allow(str(form.get("account", "")).strip(), user.name, str(form.get("reason", "")), expires)
    return RedirectResponse("/allowlist", 303)


@pages.post("/allowlist/remove")
async def disallow_page(request: Request, store: StoreDep, user: Annotated[User, Depends(form_admin)]) -> Response:
    form = await request.form()
    await store.disallow(str(form.get("account", "")), user.name)
    return RedirectResponse("/allowlist", 303)


@pages.get("/audit")
async def audit_page(request: Request, store: StoreDep, user: Annotated[User, Depends(page_admin)]) -> HTMLResponse:
    return render(request, "audit.html", entries=await store.recent_audit(200))


@pages.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    """The API description, for a logged-in user or a token holder."""
    auth = _auth(request)
    session = auth.read_session(request.cookies.get(SESSION_COOKIE))
    header = request.headers.get("authorization", "")
    token_ok = header.lower().startswith("bearer ") and auth.token_user(header[7:].strip()) is not None
    if not (token_ok or (session and auth.user(session.user))):
        raise HTTPException(401, "Log in or send a bearer token", headers={"WWW-Authenticate": "Bearer"})
    return JSONResponse(request.app.openapi())


# ---------------------------------------------------------------------- rendering
_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True), enable_async=False
)
_templates.filters["when"] = lambda ts: "" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
_templates.filters["ago"] = lambda seconds: _ago(seconds)


def render(request: Request, name: str, status: int = 200, session: Session | None = None, **context) -> HTMLResponse:
    session = session or getattr(request.state, "session", None)
    html = _templates.get_template(name).render(
        user=getattr(request.state, "user", None), csrf=session.csrf if session else "", now=time.time(), **context
    )
    return HTMLResponse(html, status_code=status)


def _with_session(request: Request, response: Response, session: Session, status: int | None = None) -> Response:
    if status is not None:
        response.status_code = status
    response.set_cookie(
        SESSION_COOKIE, _auth(request).sign_session(session), httponly=True, samesite="lax",
        secure=request.app.state.secure_cookies, max_age=int(session.expires_at - time.time()),
    )  # fmt: skip
    return response


def _ago(seconds: float) -> str:
    """
    >>> _ago(30), _ago(5400), _ago(200000)
    ('30s', '90m', '2.3d')
    """
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _number(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError as exc:
        raise InvalidRequest(f"not a number: {text[:20]!r}") from exc


def _hours(text: str) -> float | None:
    hours = _number(text)
    return None if hours is None else hours * 3600


# ---------------------------------------------------------------------- the app
def create_app(store: CaseStore, auth: AuthConfig, *, maintain_every: float = 30.0, secure_cookies: bool = False):
    """The UI and API over ``store``; ``maintain_every`` seconds the app reaps leases, publishes decisions and
    applies retention (0 turns that off, e.g. when another process does it)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_maintain_forever(store, maintain_every)) if maintain_every > 0 else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="Gaming-scheme review",
        version="1",
        description="Work the queue of flagged cases: claim, decide, reopen; allowlist and label accounts. "
        "Authenticate with `Authorization: Bearer <token>`.",
        openapi_url=None,  # served by the authenticated route above
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store, app.state.auth, app.state.secure_cookies = store, auth, secure_cookies
    app.include_router(api)
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.url.path.startswith("/static"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login", 303)

    @app.exception_handler(ReviewError)
    async def review_error(request: Request, exc: ReviewError) -> Response:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
        return _error(request, status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), exc.headers)

    return app


def _error(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    response = render(request, "error.html", status=status, message=message, status_code=status)
    if headers:
        response.headers.update(headers)
    return response


async def _maintain_forever(store: CaseStore, every: float) -> None:
    while True:
        try:
            done = await store.maintain()
            if any(done.values()):
                log.info("maintenance: %s", done)
        except Exception:
            log.exception("maintenance failed; retrying")
        await asyncio.sleep(every)


# ---------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (default: DETECTOR_WEB_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default: DETECTOR_WEB_PORT)")
    parser.add_argument(
        "--demo-user",
        nargs="?",
        const="demo",
        metavar="NAME[:PASSWORD]",
        help="add an admin login for a demo; without a password one is generated and printed",
    )
    parser.add_argument("--hash-password", action="store_true", help="read a password, print its hash, exit")
    parser.add_argument("--token-digest", action="store_true", help="read an API token, print its digest, exit")


def auth_from_env(environ: dict[str, str] | os._Environ) -> AuthConfig:
    secret = environ.get("DETECTOR_WEB_SECRET", "")
    if not secret:
        log.warning("DETECTOR_WEB_SECRET is not set: generated one; sessions end when this process stops")
        secret = secrets.token_urlsafe(32)
    return AuthConfig.from_strings(
        environ.get("DETECTOR_WEB_USERS", ""), environ.get("DETECTOR_WEB_TOKENS", ""), secret
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.hash_password or args.token_digest:
        secret = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        print(hash_password(secret) if args.hash_password else token_digest(secret))
        return 0
    settings = Settings.from_env()
    auth = auth_from_env(os.environ)
    host, port = args.host or settings.web_host, args.port or settings.web_port
    if args.demo_user:
        name, _, password = args.demo_user.partition(":")
        password = password or secrets.token_urlsafe(9)
        auth.add_user(name, ADMIN, password)
        print(f"Reviewer UI: http://{host}:{port}/  login: {name}  password: {password}", flush=True)
    if not auth.users and not auth.tokens:
        print("no users: set DETECTOR_WEB_USERS (see docs/review.md) or pass --demo-user", file=sys.stderr)
        return 2
    store = store_from_env(settings)
    secure = os.environ.get("DETECTOR_WEB_SECURE_COOKIES", "").lower() in {"1", "true", "yes"}
    app = create_app(store, auth, secure_cookies=secure)
    asyncio.run(_serve(app, store, host, port))
    return 0


async def _serve(app: FastAPI, store: CaseStore, host: str, port: int) -> None:
    sink = store.sink
    if isinstance(sink, KafkaDecisionSink):
        try:
            await sink.start()
        except Exception:
            # Reviewers can still work; decisions wait in the Redis outbox for a process that can publish.
            log.exception("cannot reach Kafka; decisions stay in the outbox")
            store.sink = sink = None
    try:
        await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info")).serve()
    finally:
        if isinstance(sink, KafkaDecisionSink):
            await sink.stop()
        await store.redis.aclose()
