"""The review case store: the engine's findings as cases in Redis, worked by human reviewers.

One case per scheme instance (``Finding.case_id``): an account's follower burst, or a ring listing its members.
A case moves ``open -> claimed -> decided`` (``confirmed``, ``dismissed`` or ``escalated``) and can be reopened.
Claims are leases: a lease that runs out puts the case back in the queue (lazily, whenever the queue is read or
claimed from, and in :meth:`CaseStore.maintain`). Every action is appended to an audit stream, and every decision
to an outbox stream that :meth:`CaseStore.publish_pending` drains into a :class:`~detector.review.sink.DecisionSink`
(at least once; consumers deduplicate by ``decision_id``).

Concurrency: claims are Lua scripts, so two reviewers can never hold the same case; upserts, decisions and
reopens are WATCH/MULTI transactions retried on conflict. The key layout is in docs/redis.md. Scripts build
case keys from the prefix, so the store targets a single Redis (or Valkey) node, not a cluster.

Times: the store's ``clock`` (wall-clock seconds) stamps leases, audit entries and decisions; the finding's own
times (``flagged_ts``, ``first_event_ts``, ``last_event_ts``) are event time and are kept as they are.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from detector.core.findings import FOLLOWER_GROWTH, Finding
from detector.review.policies import POLICIES
from detector.review.sink import DecisionSink
from models.decisions import decision_row

T = TypeVar("T")

log = logging.getLogger(__name__)

OPEN, CLAIMED, DECIDED = "open", "claimed", "decided"
STATES = (OPEN, CLAIMED, DECIDED)
CONFIRMED, DISMISSED, ESCALATED = "confirmed", "dismissed", "escalated"
DECISIONS = (CONFIRMED, DISMISSED, ESCALATED)

#: Queue priority is ``score * SCORE_WEIGHT_SECONDS - created_at``: a full point of score is worth a week of
#: waiting, so a strong case goes first but a weak one still surfaces instead of starving. Being static, the
#: priority needs no periodic re-ranking (age is the creation time itself).
SCORE_WEIGHT_SECONDS = 7 * 86400.0
#: Revisions kept per case for the timeline (each re-flag adds one).
HISTORY_LIMIT = 100
MAX_REASON_CHARS = 2000
#: Queue entries scanned per page when filtering (lists and claim-next).
SCAN_PAGE = 200

# Fields of the case hash that listings read (everything but the large evidence and history).
_SUMMARY_FIELDS = (
    "case_id", "scheme", "state", "decision", "score", "priority", "accounts", "summary", "created_at",
    "updated_at", "flagged_ts", "first_event_ts", "last_event_ts", "model_version", "revisions", "claimed_by",
    "claimed_at", "lease_expires_at", "decided_by", "decided_at", "policy", "reason", "note", "decision_id",
    "evidence_after_decision",
)  # fmt: skip
_CLAIM_FIELDS = ("claimed_by", "claimed_at", "lease_expires_at")
_DECISION_FIELDS = (
    "decision", "decided_by", "decided_at", "policy", "reason", "note", "decision_id", "decision_record",
)  # fmt: skip

# Shared Lua: audit to the global and the per-case stream; return expired leases to the queue.
_LUA_COMMON = """
local function audit(p, id, now, actor, action, details)
  local f = {'ts', now, 'actor', actor, 'action', action, 'case_id', id, 'details', details}
  redis.call('XADD', p .. 'audit', '*', unpack(f))
  if id ~= '' then redis.call('XADD', p .. 'case:' .. id .. ':audit', '*', unpack(f)) end
end
local function reap(p, now)
  local expired = redis.call('ZRANGEBYSCORE', p .. 'claimed', '-inf', now)
  for _, id in ipairs(expired) do
    local key = p .. 'case:' .. id
    redis.call('ZREM', p .. 'claimed', id)
    local c = redis.call('HMGET', key, 'state', 'claimed_by', 'priority', 'lease_expires_at')
    if c[1] == 'claimed' then
      redis.call('HSET', key, 'state', 'open', 'claimed_by', '', 'claimed_at', '', 'lease_expires_at', '')
      redis.call('ZADD', p .. 'queue', c[3], id)
      audit(p, id, now, c[2], 'lease_expired', cjson.encode({lease_expires_at = tonumber(c[4])}))
    end
  end
  return #expired
end
local function take(p, id, now, reviewer, expires, renewed)
  local key = p .. 'case:' .. id
  redis.call('HSET', key, 'state', 'claimed', 'claimed_by', reviewer, 'claimed_at', now,
             'lease_expires_at', expires, 'updated_at', now)
  redis.call('ZREM', p .. 'queue', id)
  redis.call('ZADD', p .. 'claimed', expires, id)
  local action = renewed and 'lease_renewed' or 'claimed'
  audit(p, id, now, reviewer, action, cjson.encode({lease_expires_at = tonumber(expires)}))
end
"""

# ARGV: prefix, now
_LUA_REAP = _LUA_COMMON + "return reap(ARGV[1], ARGV[2])"

# ARGV: prefix, now, reviewer, lease expiry, case id -> {status, case id or holder}
_LUA_CLAIM = (
    _LUA_COMMON
    + """
local p, now, reviewer, expires, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
reap(p, now)
local c = redis.call('HMGET', p .. 'case:' .. id, 'state', 'claimed_by')
if not c[1] then return {'not_found', ''} end
if c[1] == 'decided' then return {'decided', ''} end
if c[1] == 'claimed' and c[2] ~= reviewer then return {'held', c[2]} end
take(p, id, now, reviewer, expires, c[1] == 'claimed')
return {'ok', id}
"""
)

# ARGV: prefix, now, reviewer, lease expiry, scheme ('' = any), min score, max score, page
_LUA_CLAIM_NEXT = (
    _LUA_COMMON
    + """
local p, now, reviewer, expires = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local scheme, lo, hi, page = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
reap(p, now)
local start = 0
while true do
  local ids = redis.call('ZREVRANGE', p .. 'queue', start, start + page - 1)
  if #ids == 0 then return {'empty', ''} end
  for _, id in ipairs(ids) do
    local c = redis.call('HMGET', p .. 'case:' .. id, 'scheme', 'score')
    local score = tonumber(c[2])
    if score and (scheme == '' or c[1] == scheme) and score >= lo and score <= hi then
      take(p, id, now, reviewer, expires, false)
      return {'ok', id}
    end
  end
  start = start + page
end
"""
)

# ARGV: prefix, now, reviewer, case id
_LUA_RELEASE = (
    _LUA_COMMON
    + """
local p, now, reviewer, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = p .. 'case:' .. id
local c = redis.call('HMGET', key, 'state', 'claimed_by', 'priority')
if not c[1] then return 'not_found' end
if c[1] ~= 'claimed' or c[2] ~= reviewer then return 'not_held' end
redis.call('HSET', key, 'state', 'open', 'claimed_by', '', 'claimed_at', '', 'lease_expires_at', '', 'updated_at', now)
redis.call('ZREM', p .. 'claimed', id)
redis.call('ZADD', p .. 'queue', c[3], id)
audit(p, id, now, reviewer, 'released', '{}')
return 'ok'
"""
)


class ReviewError(Exception):
    """Base of the store's errors; the message is safe to show a reviewer."""


class CaseNotFound(ReviewError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "case not found"


class CaseConflict(ReviewError):
    """The case's state does not allow the action (held by another reviewer, already decided, ...)."""


class InvalidRequest(ReviewError, ValueError):
    """A malformed request: unknown decision or policy, missing reason, ..."""


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What :meth:`CaseStore.upsert_finding` did.

    ``suppressed`` is true when every account of the finding is allowlisted (nothing was written);
    ``allowlisted`` names the accounts left out of the case for being allowlisted.
    """

    case_id: str
    created: bool
    changed: bool
    suppressed: bool = False
    allowlisted: tuple[str, ...] = ()


@dataclass
class Case:
    """A case as a reviewer sees it. ``state`` is effective: a claim whose lease ran out reads as ``open``."""

    case_id: str
    scheme: str
    state: str
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
    decision: str = ""
    claimed_by: str = ""
    claimed_at: float | None = None
    lease_expires_at: float | None = None
    decided_by: str = ""
    decided_at: float | None = None
    policy: str = ""
    reason: str = ""
    note: str = ""
    decision_id: str = ""
    evidence_after_decision: int = 0
    evidence: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    ts: float
    actor: str
    action: str
    case_id: str
    details: dict


@dataclass(frozen=True, slots=True)
class AllowEntry:
    account: str
    reason: str
    added_by: str
    added_at: float
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Label:
    account: str
    label: str
    added_by: str
    added_at: float
    expires_at: float | None
    note: str


@dataclass(frozen=True, slots=True)
class BulkResult:
    bulk_id: str
    decided: list[str]
    failed: dict[str, str]


class Keys:
    """The key layout (docs/redis.md). Account ids go into keys verbatim between fixed parts, which keeps
    the mapping one-to-one whatever characters they hold.

    >>> Keys("gsd:").case("ring-1"), Keys("gsd:").account("a:b")
    ('gsd:case:ring-1', 'gsd:account:a:b:cases')
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.queue = prefix + "queue"
        self.claimed = prefix + "claimed"
        self.decided = prefix + "decided"
        self.cases = prefix + "cases"
        self.audit = prefix + "audit"
        self.outbox = prefix + "decisions:outbox"
        self.allowlist = prefix + "allowlist"

    def case(self, case_id: str) -> str:
        return f"{self.prefix}case:{case_id}"

    def case_audit(self, case_id: str) -> str:
        return f"{self.prefix}case:{case_id}:audit"

    def account(self, account: str) -> str:
        return f"{self.prefix}account:{account}:cases"

    def allow(self, account: str) -> str:
        return f"{self.prefix}allow:{account}"

    def labels(self, account: str) -> str:
        return f"{self.prefix}labels:{account}"


class CaseStore:
    """Cases, queue, leases, decisions, audit, allowlist and labels in one Redis.

    Parameters
    ----------
    redis:
        An asyncio client (``decode_responses`` either way).
    clock:
        Wall-clock seconds; injectable so tests can expire leases without sleeping.
    lease_seconds:
        How long a claim holds a case before it returns to the queue.
    closed_retention_seconds:
        How long a decided case is kept before :meth:`maintain` purges it.
    audit_retention_seconds:
        How long global audit entries are kept; never less than ``closed_retention_seconds``.
    prefix:
        Prepended to every key, so several deployments (or tests) can share a Redis.
    sink:
        Where decisions are published; ``None`` leaves them in the outbox for a process that has one.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = 900.0,
        closed_retention_seconds: float = 90 * 86400.0,
        audit_retention_seconds: float = 400 * 86400.0,
        prefix: str = "gsd:",
        sink: DecisionSink | None = None,
    ):
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.redis = redis
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.closed_retention_seconds = closed_retention_seconds
        self.audit_retention_seconds = max(audit_retention_seconds, closed_retention_seconds)
        self.keys = Keys(prefix)
        self.sink = sink
        self._reap = redis.register_script(_LUA_REAP)
        self._claim = redis.register_script(_LUA_CLAIM)
        self._claim_next = redis.register_script(_LUA_CLAIM_NEXT)
        self._release = redis.register_script(_LUA_RELEASE)

    @classmethod
    def from_url(cls, url: str, **kwargs) -> CaseStore:
        return cls(aioredis.from_url(url, decode_responses=True), **kwargs)

    # ------------------------------------------------------------------ findings
    async def upsert_finding(self, finding: Finding) -> UpsertResult:
        """Create or update the finding's case, atomically and idempotently.

        The same finding twice changes nothing. A finding changes the case when it has a higher score, new
        members or later evidence (``last_event_ts``); a replayed older finding does not roll the case back.
        An open or claimed case gets the new evidence and priority. A decided case stays decided: it records
        the new evidence and counts it in ``evidence_after_decision`` for reviewers to look at, but is never
        reopened by the detector (only a reviewer reopens). Allowlisted accounts are left out of the case;
        a finding with no other account is suppressed.
        """
        keys = self.keys
        key = keys.case(finding.case_id)
        fingerprint = _fingerprint(finding)

        async def attempt(pipe: Pipeline, now: float) -> UpsertResult:
            allowlisted = await self._allowlisted(pipe, finding.accounts, now)
            accounts = [a for a in finding.accounts if a not in allowlisted]
            if not accounts:
                await pipe.reset()
                return UpsertResult(finding.case_id, False, False, True, tuple(allowlisted))
            old = _decode(await pipe.hgetall(key))
            if not old:
                self._create(pipe, finding, accounts, fingerprint, now, allowlisted)
                await pipe.execute()
                return UpsertResult(finding.case_id, True, True, False, tuple(allowlisted))
            if not self._update(pipe, old, finding, accounts, fingerprint, now, allowlisted):
                await pipe.reset()
                return UpsertResult(finding.case_id, False, False, False, tuple(allowlisted))
            await pipe.execute()
            return UpsertResult(finding.case_id, False, True, False, tuple(allowlisted))

        return await self._optimistically([key, keys.allowlist], attempt)

    async def _optimistically(self, watched: list[str], attempt: Callable[[Pipeline, float], Awaitable[T]]) -> T:
        """Run ``attempt(pipe, now)`` under WATCH on ``watched`` until no other client changed those keys
        between its reads and its MULTI/EXEC (optimistic locking; ``attempt`` executes or resets the pipe)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*watched)
                    return await attempt(pipe, self.clock())
                except WatchError:
                    continue

    def _create(
        self,
        pipe: Pipeline,
        finding: Finding,
        accounts: list[str],
        fingerprint: str,
        now: float,
        allowlisted: list[str],
    ) -> None:
        keys = self.keys
        priority = _priority(finding.score, now)
        pipe.multi()
        pipe.hset(
            keys.case(finding.case_id),
            mapping={
                "case_id": finding.case_id,
                "scheme": finding.scheme,
                "state": OPEN,
                "score": finding.score,
                "priority": priority,
                "accounts": _json(sorted(accounts)),
                "summary": str(finding.evidence.get("summary", "")),
                "created_at": now,
                "updated_at": now,
                "flagged_ts": finding.flagged_ts,
                "first_event_ts": finding.first_event_ts,
                "last_event_ts": finding.last_event_ts,
                "model_version": finding.model_version,
                "evidence": _json(finding.evidence),
                "history": _json([_revision(finding, len(accounts), now)]),
                "fingerprint": fingerprint,
                "revisions": 1,
                "evidence_after_decision": 0,
            },
        )
        pipe.zadd(keys.queue, {finding.case_id: priority})
        pipe.zadd(keys.cases, {finding.case_id: now})
        for account in accounts:
            pipe.sadd(keys.account(account), finding.case_id)
        details = {"score": finding.score, "accounts": len(accounts), "model_version": finding.model_version}
        if allowlisted:
            details["allowlisted"] = sorted(allowlisted)
        self._audit(pipe, now, "detector", "flagged", finding.case_id, details)

    def _update(
        self,
        pipe: Pipeline,
        old: dict,
        finding: Finding,
        accounts: list[str],
        fingerprint: str,
        now: float,
        allowlisted: list[str],
    ) -> bool:
        """Queue the update of an existing case in the transaction; ``False`` when the finding is not news."""
        if old.get("fingerprint") == fingerprint:
            return False
        keys = self.keys
        old_accounts = orjson.loads(old["accounts"])
        new_members = sorted(set(accounts) - set(old_accounts))
        old_score = float(old["score"])
        higher = finding.score > old_score
        later = finding.last_event_ts > float(old["last_event_ts"])
        if not (higher or new_members or later):
            return False  # a replayed or out-of-order older finding
        score = max(old_score, finding.score)
        priority = _priority(score, float(old["created_at"]))
        merged = sorted(set(old_accounts) | set(accounts))
        history = orjson.loads(old.get("history") or "[]")
        history = [*history, _revision(finding, len(merged), now)][-HISTORY_LIMIT:]
        decided = old["state"] == DECIDED
        pipe.multi()
        mapping = {
            "score": score,
            "priority": priority,
            "accounts": _json(merged),
            "summary": str(finding.evidence.get("summary", "")),
            "updated_at": now,
            "flagged_ts": finding.flagged_ts,
            "first_event_ts": min(float(old["first_event_ts"]), finding.first_event_ts),
            "last_event_ts": max(float(old["last_event_ts"]), finding.last_event_ts),
            "model_version": finding.model_version,
            "evidence": _json(finding.evidence),
            "history": _json(history),
            "fingerprint": fingerprint,
            "revisions": int(old.get("revisions") or 1) + 1,
        }
        if decided:
            mapping["evidence_after_decision"] = int(old.get("evidence_after_decision") or 0) + 1
        pipe.hset(keys.case(finding.case_id), mapping=mapping)
        if old["state"] == OPEN:
            pipe.zadd(keys.queue, {finding.case_id: priority})
        for account in new_members:
            pipe.sadd(keys.account(account), finding.case_id)
        details = {"score": finding.score, "previous_score": old_score, "new_members": new_members}
        if allowlisted:
            details["allowlisted"] = sorted(allowlisted)
        action = "reflagged_after_decision" if decided else "updated"
        self._audit(pipe, now, "detector", action, finding.case_id, details)
        return True

    # ------------------------------------------------------------------ reading
    async def get(self, case_id: str) -> Case:
        """The whole case with evidence and history; raises :class:`CaseNotFound`."""
        raw = _decode(await self.redis.hgetall(self.keys.case(case_id)))
        if not raw:
            raise CaseNotFound(f"no case {case_id!r}")
        return _case(raw, self.clock())

    async def list_cases(
        self,
        *,
        state: str | None = None,
        scheme: str | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        min_age_seconds: float | None = None,
        max_age_seconds: float | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Case]:
        """Cases without their evidence, filtered.

        ``state`` is ``open`` (in queue priority order), ``claimed`` (by lease expiry), ``decided`` or one of
        the decisions (most recent first), or ``None`` for all (newest first). Age is time since the case was
        first flagged. Filters other than state are applied while scanning, one page at a time.
        """
        now = self.clock()
        await self._reap(args=[self.keys.prefix, repr(now)])
        indexes = {None: self.keys.cases, OPEN: self.keys.queue, CLAIMED: self.keys.claimed, DECIDED: self.keys.decided}
        indexes.update(dict.fromkeys(DECISIONS, self.keys.decided))
        if state not in indexes:
            raise InvalidRequest(f"unknown state {state!r}")
        index = indexes[state]
        reverse = index != self.keys.claimed  # leases soonest to expire first; everything else newest/top first

        def keep(case: Case) -> bool:
            age = now - case.created_at
            return (
                (state not in DECISIONS or case.decision == state)
                and (scheme is None or case.scheme == scheme)
                and (min_score is None or case.score >= min_score)
                and (max_score is None or case.score <= max_score)
                and (min_age_seconds is None or age >= min_age_seconds)
                and (max_age_seconds is None or age <= max_age_seconds)
            )

        out: list[Case] = []
        start = 0
        while len(out) < offset + limit:
            ids = _decode(await self.redis.zrange(index, start, start + SCAN_PAGE - 1, desc=reverse))
            if not ids:
                break
            out.extend(case for case in await self._summaries(ids, now) if keep(case))
            start += SCAN_PAGE
        return out[offset : offset + limit]

    async def counts(self) -> dict[str, int]:
        """How many cases are open, claimed and decided."""
        await self._reap(args=[self.keys.prefix, repr(self.clock())])
        async with self.redis.pipeline(transaction=False) as pipe:
            for index in (self.keys.queue, self.keys.claimed, self.keys.decided):
                pipe.zcard(index)
            open_, claimed, decided = await pipe.execute()
        return {OPEN: open_, CLAIMED: claimed, DECIDED: decided}

    async def labelled_decisions(self) -> AsyncIterator[tuple[str, dict | None]]:
        """Per decided case, oldest decision first: its id and its last decision as a training line
        (:func:`models.decisions.decision_row`, with the features and model of the evidence the reviewer saw), or
        ``None`` for a case decided before decision records were kept. Read a page at a time, so an export of any
        size holds one page in memory."""
        start = 0
        while ids := _decode(await self.redis.zrange(self.keys.decided, start, start + SCAN_PAGE - 1)):
            async with self.redis.pipeline(transaction=False) as pipe:
                for case_id in ids:
                    pipe.hget(self.keys.case(case_id), "decision_record")
                records = await pipe.execute()
            for case_id, record in zip(ids, records, strict=True):
                yield case_id, _decision_row(case_id, orjson.loads(record)) if record else None
            start += SCAN_PAGE

    async def related_cases(self, case_id: str, limit: int = 50) -> list[Case]:
        """Other cases sharing an account with this one, strongest first."""
        case = await self.get(case_id)
        ids = await self.redis.sunion([self.keys.account(a) for a in case.accounts])
        related = await self._summaries(sorted(set(_decode(ids)) - {case_id}), self.clock())
        return sorted(related, key=lambda c: -c.score)[:limit]

    async def cases_of(self, account: str) -> list[Case]:
        """Every case that lists the account."""
        ids = _decode(await self.redis.smembers(self.keys.account(account)))
        return sorted(await self._summaries(sorted(ids), self.clock()), key=lambda c: -c.created_at)

    async def _summaries(self, ids: Sequence[str], now: float) -> list[Case]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for case_id in ids:
                pipe.hmget(self.keys.case(case_id), _SUMMARY_FIELDS)
            rows = await pipe.execute()
        out = []
        for row in rows:
            raw = {k: v for k, v in zip(_SUMMARY_FIELDS, _decode(row), strict=True) if v is not None}
            if raw.get("case_id"):  # an index entry may outlive a purged case for a moment
                out.append(_case(raw, now))
        return out

    # ------------------------------------------------------------------ claims
    async def claim(self, case_id: str, reviewer: str) -> Case:
        """Claim a case (or renew one's own lease). Raises :class:`CaseConflict` when another reviewer holds
        it or it is decided."""
        now = self.clock()
        status, detail = _decode(
            await self._claim(args=[self.keys.prefix, repr(now), reviewer, repr(now + self.lease_seconds), case_id])
        )
        if status == "not_found":
            raise CaseNotFound(f"no case {case_id!r}")
        if status == "decided":
            raise CaseConflict(f"case {case_id} is already decided")
        if status == "held":
            raise CaseConflict(f"case {case_id} is claimed by {detail}")
        return await self.get(case_id)

    async def claim_next(
        self,
        reviewer: str,
        *,
        scheme: str | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
    ) -> Case | None:
        """Claim the highest-priority open case matching the filters; ``None`` when there is none."""
        now = self.clock()
        args = [
            self.keys.prefix, repr(now), reviewer, repr(now + self.lease_seconds), scheme or "",
            repr(-1.0 if min_score is None else min_score), repr(2.0 if max_score is None else max_score), SCAN_PAGE,
        ]  # fmt: skip
        status, case_id = _decode(await self._claim_next(args=args))
        return None if status == "empty" else await self.get(case_id)

    async def release(self, case_id: str, reviewer: str) -> None:
        """Give a claimed case back to the queue undecided."""
        status = _decode(await self._release(args=[self.keys.prefix, repr(self.clock()), reviewer, case_id]))
        if status == "not_found":
            raise CaseNotFound(f"no case {case_id!r}")
        if status == "not_held":
            raise CaseConflict(f"case {case_id} is not claimed by {reviewer}")

    async def reap_expired_leases(self) -> int:
        """Return every case whose lease ran out to the queue; how many leases had expired."""
        return int(await self._reap(args=[self.keys.prefix, repr(self.clock())]))

    # ------------------------------------------------------------------ decisions
    async def decide(
        self,
        case_id: str,
        reviewer: str,
        decision: str,
        policy: str,
        reason: str,
        note: str | None = None,
        *,
        bulk_id: str | None = None,
    ) -> dict:
        """Decide a case held by ``reviewer`` (or open: deciding takes it). Returns the decision record that is
        published on the ``decisions`` topic.

        Raises :class:`CaseConflict` when another reviewer holds a live lease or the case is already decided,
        :class:`InvalidRequest` for an unknown decision or policy or an empty reason.
        """
        record = await self._decide(case_id, reviewer, decision, policy, reason, note, bulk_id)
        await self._publish_quietly()
        return record

    async def _decide(self, case_id, reviewer, decision, policy, reason, note, bulk_id) -> dict:
        if decision not in DECISIONS:
            raise InvalidRequest(f"decision must be one of {', '.join(DECISIONS)}")
        if policy not in POLICIES:
            raise InvalidRequest(f"unknown policy {policy!r}")
        reason, note = (reason or "").strip(), (note or "").strip()
        if not reason:
            raise InvalidRequest("a decision needs a reason")
        if len(reason) > MAX_REASON_CHARS or len(note) > MAX_REASON_CHARS:
            raise InvalidRequest(f"reason and note are limited to {MAX_REASON_CHARS} characters")
        keys = self.keys
        key = keys.case(case_id)

        async def attempt(pipe: Pipeline, now: float) -> dict:
            raw = _decode(await pipe.hgetall(key))
            if not raw:
                raise CaseNotFound(f"no case {case_id!r}")
            case = _case(raw, now)
            if case.state == DECIDED:
                raise CaseConflict(f"case {case_id} is already {case.decision}; reopen it first")
            if case.state == CLAIMED and case.claimed_by != reviewer:
                raise CaseConflict(f"case {case_id} is claimed by {case.claimed_by}")
            record = {
                "decision_id": uuid.uuid4().hex,
                "case_id": case_id,
                "scheme": case.scheme,
                "accounts": case.accounts,
                "decision": decision,
                "policy": policy,
                "reason": reason,
                "note": note or None,
                "reviewer": reviewer,
                "decided_at": now,
                "score": case.score,
                "model_version": case.model_version,
                "model": case.evidence.get("model", case.scheme),
                "features": case.evidence.get("features", {}),
                "supersedes": raw.get("last_decision_id") or None,
                "bulk_id": bulk_id,
            }
            pipe.multi()
            pipe.hset(
                key,
                mapping={
                    "state": DECIDED, "decision": decision, "decided_by": reviewer, "decided_at": now,
                    "policy": policy, "reason": reason, "note": note, "decision_id": record["decision_id"],
                    "last_decision_id": record["decision_id"], "evidence_after_decision": 0,
                    "decision_record": _json(record),
                    "updated_at": now, "claimed_by": "", "claimed_at": "", "lease_expires_at": "",
                },
            )  # fmt: skip
            pipe.zrem(keys.queue, case_id)
            pipe.zrem(keys.claimed, case_id)
            pipe.zadd(keys.decided, {case_id: now})
            details = {k: record[k] for k in ("decision", "policy", "reason", "note", "decision_id")}
            if bulk_id:
                details["bulk_id"] = bulk_id
            self._audit(pipe, now, reviewer, "decided", case_id, details)
            pipe.xadd(keys.outbox, {"decision": _json(record)})
            await pipe.execute()
            return record

        return await self._optimistically([key], attempt)

    async def bulk_decide(
        self,
        case_ids: Iterable[str],
        reviewer: str,
        decision: str,
        policy: str,
        reason: str,
        note: str | None = None,
    ) -> BulkResult:
        """Decide many cases at once (each atomically, under one ``bulk_id``); a case that cannot be decided is
        reported in ``failed`` with the reason and does not stop the others."""
        bulk_id = uuid.uuid4().hex
        decided, failed = [], {}
        for case_id in dict.fromkeys(case_ids):
            try:
                await self._decide(case_id, reviewer, decision, policy, reason, note, bulk_id)
                decided.append(case_id)
            except ReviewError as exc:
                failed[case_id] = str(exc)
        details = {"bulk_id": bulk_id, "decision": decision, "policy": policy, "reason": reason,
                   "decided": decided, "failed": failed}  # fmt: skip
        await self.redis.xadd(self.keys.audit, _audit_fields(self.clock(), reviewer, "bulk_decided", "", details))
        await self._publish_quietly()
        return BulkResult(bulk_id, decided, failed)

    async def reopen(self, case_id: str, actor: str, reason: str) -> Case:
        """Put a decided case back in the queue; its next decision supersedes the last one."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidRequest("reopening needs a reason")
        keys = self.keys
        key = keys.case(case_id)

        async def attempt(pipe: Pipeline, now: float) -> None:
            raw = _decode(await pipe.hgetall(key))
            if not raw:
                raise CaseNotFound(f"no case {case_id!r}")
            if raw["state"] != DECIDED:
                raise CaseConflict(f"case {case_id} is not decided")
            pipe.multi()
            pipe.hset(key, mapping={"state": OPEN, "updated_at": now, **dict.fromkeys(_DECISION_FIELDS, "")})
            pipe.zrem(keys.decided, case_id)
            pipe.zadd(keys.queue, {case_id: float(raw["priority"])})
            details = {"reason": reason, "previous_decision": raw.get("decision"),
                       "previous_decision_id": raw.get("decision_id")}  # fmt: skip
            self._audit(pipe, now, actor, "reopened", case_id, details)
            await pipe.execute()

        await self._optimistically([key], attempt)
        return await self.get(case_id)

    # ------------------------------------------------------------------ publishing
    async def publish_pending(self, limit: int = 500) -> int:
        """Publish decisions waiting in the outbox to the sink, oldest first; how many were published.

        An entry leaves the outbox only once the sink accepted it, so a broker outage delays decisions but
        never loses them. Two processes draining at once may publish an entry twice (at least once).
        """
        if self.sink is None:
            return 0
        entries = _decode(await self.redis.xrange(self.keys.outbox, count=limit))
        for entry_id, fields in entries:
            await self.sink.publish(orjson.loads(fields["decision"]))
            await self.redis.xdel(self.keys.outbox, entry_id)
        return len(entries)

    async def pending_decisions(self) -> int:
        return int(await self.redis.xlen(self.keys.outbox))

    async def _publish_quietly(self) -> None:
        # The decision is already durable in the outbox; a broker hiccup must not fail the reviewer's action.
        try:
            await self.publish_pending()
        except Exception:
            log.warning("publishing decisions failed; they stay in the outbox for the next attempt", exc_info=True)

    # ------------------------------------------------------------------ audit
    async def case_audit(self, case_id: str) -> list[AuditEntry]:
        """The case's audit history, oldest first."""
        return [_audit_entry(i, f) for i, f in _decode(await self.redis.xrange(self.keys.case_audit(case_id)))]

    async def recent_audit(self, count: int = 100) -> list[AuditEntry]:
        """The latest entries of the global audit log, newest first."""
        rows = _decode(await self.redis.xrevrange(self.keys.audit, count=count))
        return [_audit_entry(i, f) for i, f in rows]

    def _audit(self, pipe: Pipeline, now: float, actor: str, action: str, case_id: str, details: dict) -> None:
        fields = _audit_fields(now, actor, action, case_id, details)
        pipe.xadd(self.keys.audit, fields)
        if case_id:
            pipe.xadd(self.keys.case_audit(case_id), fields)

    # ------------------------------------------------------------------ allowlist
    async def allow(self, account: str, actor: str, reason: str, expires_at: float | None = None) -> AllowEntry:
        """Allowlist an account: findings are never raised on it again (until ``expires_at``, if given).

        Cases already open are left for reviewers to decide."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidRequest("allowlisting needs a reason")
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidRequest("expiry is in the past")
        entry = AllowEntry(account, reason, actor, now, expires_at)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.allow(account), mapping={
                "reason": reason, "added_by": actor, "added_at": now,
                "expires_at": "" if expires_at is None else expires_at,
            })  # fmt: skip
            pipe.zadd(self.keys.allowlist, {account: float("inf") if expires_at is None else expires_at})
            self._audit(pipe, now, actor, "allowlisted", "", {"account": account, "reason": reason,
                                                                "expires_at": expires_at})  # fmt: skip
            await pipe.execute()
        return entry

    async def disallow(self, account: str, actor: str) -> bool:
        """Take an account off the allowlist; whether it was on it."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.allow(account))
            pipe.zrem(self.keys.allowlist, account)
            self._audit(pipe, self.clock(), actor, "allowlist_removed", "", {"account": account})
            deleted, *_ = await pipe.execute()
        return bool(deleted)

    async def is_allowlisted(self, account: str) -> bool:
        return bool(await self._allowlisted(self.redis, [account], self.clock()))

    async def allow_entry(self, account: str) -> AllowEntry | None:
        """The account's allowlist entry, if it is allowlisted now."""
        if not await self.is_allowlisted(account):
            return None
        r = _decode(await self.redis.hgetall(self.keys.allow(account)))
        return AllowEntry(account, r["reason"], r["added_by"], float(r["added_at"]), _opt_float(r.get("expires_at")))

    async def allowlist(self) -> list[AllowEntry]:
        """Every allowlisted account that has not expired (expired entries are removed on the way)."""
        await self._expire_allowlist()
        accounts = _decode(await self.redis.zrange(self.keys.allowlist, 0, -1))
        async with self.redis.pipeline(transaction=False) as pipe:
            for account in accounts:
                pipe.hgetall(self.keys.allow(account))
            rows = await pipe.execute()
        return [
            AllowEntry(a, r["reason"], r["added_by"], float(r["added_at"]), _opt_float(r.get("expires_at")))
            for a, r in zip(accounts, map(_decode, rows), strict=True)
            if r
        ]

    async def _allowlisted(self, client: aioredis.Redis | Pipeline, accounts: Sequence[str], now: float) -> list[str]:
        # One round trip for a whole ring: the allowlist sorted set holds each entry's expiry (inf: never).
        expiries = await client.zmscore(self.keys.allowlist, list(accounts)) if accounts else []
        return [a for a, e in zip(accounts, expiries, strict=True) if e is not None and e > now]

    async def _expire_allowlist(self) -> int:
        expired = _decode(await self.redis.zrangebyscore(self.keys.allowlist, "-inf", repr(self.clock())))
        if expired:
            await self.redis.delete(*(self.keys.allow(a) for a in expired))
            await self.redis.zrem(self.keys.allowlist, *expired)
        return len(expired)

    # ------------------------------------------------------------------ labels
    async def add_label(
        self, account: str, label: str, actor: str, expires_at: float | None = None, note: str | None = None
    ) -> Label:
        """Attach a label (e.g. ``known-farm``, ``verified-creator``) to an account, optionally until a time."""
        label = (label or "").strip()
        if not label:
            raise InvalidRequest("a label needs a name")
        now = self.clock()
        entry = Label(account, label, actor, now, expires_at, (note or "").strip())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.labels(account), label, _json({
                "added_by": actor, "added_at": now, "expires_at": expires_at, "note": entry.note,
            }))  # fmt: skip
            self._audit(pipe, now, actor, "labelled", "", {"account": account, "label": label,
                                                           "expires_at": expires_at})  # fmt: skip
            await pipe.execute()
        return entry

    async def remove_label(self, account: str, label: str, actor: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.labels(account), label)
            self._audit(pipe, self.clock(), actor, "label_removed", "", {"account": account, "label": label})
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def labels(self, account: str) -> list[Label]:
        """The account's labels that have not expired (expired ones are removed on the way)."""
        now = self.clock()
        raw = _decode(await self.redis.hgetall(self.keys.labels(account)))
        labels, expired = [], []
        for name, value in sorted(raw.items()):
            data = orjson.loads(value)
            if data["expires_at"] is not None and data["expires_at"] <= now:
                expired.append(name)
                continue
            labels.append(Label(account, name, data["added_by"], data["added_at"], data["expires_at"], data["note"]))
        if expired:
            await self.redis.hdel(self.keys.labels(account), *expired)
        return labels

    # ------------------------------------------------------------------ housekeeping
    async def maintain(self) -> dict[str, int]:
        """Periodic housekeeping: expired leases back to the queue, decisions published, decided cases past
        retention purged, old global audit entries trimmed, expired allowlist entries removed."""
        return {
            "leases_expired": await self.reap_expired_leases(),
            "decisions_published": await self._publish_count_quietly(),
            "cases_purged": await self.purge_closed(),
            "allowlist_expired": await self._expire_allowlist(),
            "audit_trimmed": await self._trim_audit(),
        }

    async def _publish_count_quietly(self) -> int:
        try:
            return await self.publish_pending()
        except Exception:
            log.warning("publishing decisions failed; will retry", exc_info=True)
            return 0

    async def purge_closed(self) -> int:
        """Delete decided cases whose decision is older than ``closed_retention_seconds``; how many.

        The case, its audit stream and its index entries go; the global audit log keeps its entries for
        ``audit_retention_seconds``. A case flagged again after being purged starts afresh."""
        cutoff = self.clock() - self.closed_retention_seconds
        ids = _decode(await self.redis.zrangebyscore(self.keys.decided, "-inf", repr(cutoff)))
        purged = 0
        for case_id in ids:
            key = self.keys.case(case_id)
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = _decode(await pipe.hmget(key, ["state", "decided_at", "accounts"]))
                    expired = raw[0] == DECIDED and float(raw[1]) <= cutoff  # not reopened meanwhile
                    pipe.multi()
                    pipe.zrem(self.keys.decided, case_id)
                    if expired:
                        pipe.delete(key, self.keys.case_audit(case_id))
                        pipe.zrem(self.keys.cases, case_id)
                        for account in orjson.loads(raw[2]):
                            pipe.srem(self.keys.account(account), case_id)
                    await pipe.execute()
                    purged += expired
                except WatchError:
                    continue  # changed under us: the next run looks again
        return purged

    async def _trim_audit(self) -> int:
        # Stream ids carry the Redis server's milliseconds, so the cutoff is in server time too.
        seconds, _micro = await self.redis.time()
        cutoff_ms = int((seconds - self.audit_retention_seconds) * 1000)
        if cutoff_ms <= 0:
            return 0
        return int(await self.redis.xtrim(self.keys.audit, minid=f"{cutoff_ms}-0", approximate=False))


# ---------------------------------------------------------------------- helpers
#: What an exported decision carries besides the case, its features and the decision: who decided, when, why, on what.
EXPORTED_PROVENANCE = ("decision_id", "policy", "reason", "reviewer", "decided_at", "score", "model_version")


def _decision_row(case_id: str, record: dict) -> dict:
    return decision_row(
        case_id=case_id,
        scheme=record["scheme"],
        model=record["model"],
        accounts=record["accounts"],
        features=record["features"],
        decision=record["decision"],
        **{key: record[key] for key in EXPORTED_PROVENANCE},
    )


def _priority(score: float, created_at: float) -> float:
    return score * SCORE_WEIGHT_SECONDS - created_at


def _fingerprint(finding: Finding) -> str:
    """What makes two findings "the same": everything but the moment it was raised."""
    data = finding.to_dict()
    data.pop("flagged_ts")
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _revision(finding: Finding, members: int, now: float) -> dict:
    """One point of the case's timeline: what the detector saw at this flag."""
    point = {"at": now, "flagged_ts": finding.flagged_ts, "score": finding.score, "accounts": members}
    window = finding.evidence.get("burst_window")
    if finding.scheme == FOLLOWER_GROWTH and isinstance(window, dict):
        point["burst_window"] = window
    return point


def _json(value) -> bytes:
    return orjson.dumps(value)


def _audit_fields(now: float, actor: str, action: str, case_id: str, details: dict) -> dict:
    return {"ts": repr(now), "actor": actor, "action": action, "case_id": case_id, "details": _json(details)}


def _audit_entry(entry_id: str, fields: dict) -> AuditEntry:
    return AuditEntry(
        entry_id, float(fields["ts"]), fields["actor"], fields["action"], fields["case_id"],
        orjson.loads(fields["details"]),
    )  # fmt: skip


def _decode(value):
    """Bytes to str throughout, so the store works whether or not the client decodes responses."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {_decode(k): _decode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decode(v) for v in value]
    return value


def _opt_float(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _case(raw: dict, now: float) -> Case:
    state = raw["state"]
    lease = _opt_float(raw.get("lease_expires_at"))
    expired = state == CLAIMED and lease is not None and lease <= now
    return Case(
        case_id=raw["case_id"],
        scheme=raw["scheme"],
        state=OPEN if expired else state,
        score=float(raw["score"]),
        priority=float(raw["priority"]),
        accounts=orjson.loads(raw["accounts"]),
        summary=raw.get("summary", ""),
        created_at=float(raw["created_at"]),
        updated_at=float(raw["updated_at"]),
        flagged_ts=float(raw["flagged_ts"]),
        first_event_ts=float(raw["first_event_ts"]),
        last_event_ts=float(raw["last_event_ts"]),
        model_version=raw.get("model_version", ""),
        revisions=int(raw.get("revisions") or 1),
        decision=raw.get("decision", ""),
        claimed_by="" if expired else raw.get("claimed_by", ""),
        claimed_at=None if expired else _opt_float(raw.get("claimed_at")),
        lease_expires_at=None if expired else lease,
        decided_by=raw.get("decided_by", ""),
        decided_at=_opt_float(raw.get("decided_at")),
        policy=raw.get("policy", ""),
        reason=raw.get("reason", ""),
        note=raw.get("note", ""),
        decision_id=raw.get("decision_id", ""),
        evidence_after_decision=int(raw.get("evidence_after_decision") or 0),
        evidence=orjson.loads(raw["evidence"]) if raw.get("evidence") else {},
        history=orjson.loads(raw["history"]) if raw.get("history") else [],
    )
