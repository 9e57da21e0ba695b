"""The detection engine: events in (in event-time order, within the allowed lateness), findings out.

Pure and deterministic: no I/O, no wall clock (time is the events' own), seeded models. The Faust worker and
``detector replay`` run exactly this code, so a backtest reproduces what the stream would have flagged.
"""

from __future__ import annotations

import pickle
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from detector.core.accounts import DAY, FRESH_DAYS, AccountInfo
from detector.core.events import Event, EventRejected
from detector.core.findings import FARMING_RING, FOLLOWER_GROWTH, Finding, stable_case_id
from detector.core.growth import MIN_BURST, FollowerLedger, growth_features
from detector.core.rings import MIN_RING_SIZE, RecentBoostGraph, RingFinder, describe
from detector.core.scoring import Scorer

MODEL_VERSION = "gsd-engine-1.1"
#: The layout of the pickled state; bumped when it changes, so an older snapshot is refused on restore.
SNAPSHOT_FORMAT = 5
#: The weights (models/weights.json) for rings found young, by the cohort and lockstep searches; rings grown from
#: a traded pair are scored by the scheme's own weights.
EARLY_RING_MODEL = "farming_ring_early"
WEEK = 7 * DAY


@dataclass(frozen=True)
class EngineConfig:
    """Tunables, each with the reason for its default in docs/detection.md."""

    ring_window_days: float = 60.0
    growth_window_days: float = 3.0
    baseline_half_life_days: float = 30.0
    max_partners: int = 256
    max_ring_members: int = 40
    min_ring_size: int = MIN_RING_SIZE
    min_burst: int = MIN_BURST
    threshold: float = 0.5
    allowed_lateness_s: float = 3600.0
    dedup_horizon_s: float = 2 * DAY
    dedup_max_ids: int = 2_000_000
    idle_eviction_days: float = 180.0
    max_new_cases_per_day: int = 1000
    sample_event_ids: int = 20
    seed: int = 42
    #: Keep every scored candidate (flagged or not) in ``Engine.candidates``: the labelled export for retraining.
    record_candidates: bool = False
    #: Keep the best scores of accounts the idle sweep forgets: a backtest reports every account it saw, where a
    #: long-running stream would keep a score for every account ever scored.
    keep_forgotten_scores: bool = False


@dataclass
class AccountResult:
    """What replay reports per account: its highest score and when it was first flagged.

    In the engine, ``score`` is the highest score of the account's findings; replay reports the highest score of
    any candidate the account was in, flagged or not (see :meth:`Engine.best_score`).
    """

    score: float = 0.0
    flagged: bool = False
    first_flagged_ts: float | None = None
    schemes: list[str] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)
    evidence: dict | None = None
    evidence_case_id: str | None = None


@dataclass
class EngineStats:
    events: int = 0
    duplicates: int = 0
    late: int = 0
    ring_evaluations: int = 0  # candidate groups scored (any path)
    growth_evaluations: int = 0
    findings: int = 0
    held_by_budget: int = 0
    evicted_accounts: int = 0


class Engine:
    """Per-account state, the two scheme detectors, and the scorer.

    Examples
    --------
    >>> engine = Engine()
    >>> ring = [f"r{i}" for i in range(6)]
    >>> t, found = 1_700_000_000.0, []
    >>> for a in ring:
    ...     for b in ring:
    ...         if a != b:
    ...             t += 60
    ...             found += engine.process(Event(t, "endorse", a, b, id=f"{a}>{b}"))
    >>> sorted(found[-1].accounts) == ring, found[-1].scheme
    (True, 'farming_ring')
    """

    def __init__(self, config: EngineConfig | None = None, scorer: Scorer | None = None):
        self.config = config = config or EngineConfig()
        self.scorer = scorer or Scorer(seed=config.seed)
        self.graph = RecentBoostGraph(config.ring_window_days * DAY, config.max_partners)
        self.finder = RingFinder(self.graph, config.max_ring_members, config.min_ring_size)
        self.accounts: dict[str, AccountInfo] = {}
        self.ledgers: dict[str, FollowerLedger] = {}
        self.recent_ids: dict[str, deque[tuple[str, str]]] = {}
        self.results: dict[str, AccountResult] = {}
        #: Per account, the highest score of any candidate it was in, flagged or not: what a researcher sweeps a
        #: threshold over. Forgotten with the account when it idles out, unless ``keep_forgotten_scores``.
        self.best_scores: dict[str, float] = {}
        self.stats = EngineStats()
        self.watermark = float("-inf")
        self._seen_ids: OrderedDict[str, float] = OrderedDict()
        #: Per account searched from: its ties then, when, whether to look again eagerly, the group size found.
        self._ring_checked: dict[str, tuple[int, float, bool, int]] = {}
        self._growth_next: dict[str, int] = {}
        self._ring_of: dict[str, str] = {}
        self._rings: dict[str, set[str]] = {}
        self._revisions: dict[str, tuple[int, float]] = {}
        self._budget_day = -1
        self._budget_used = 0
        self._last_sweep = float("-inf")
        #: Accounts to look at in the idle sweep, by the week they were last seen in when filed here (they may have
        #: been seen since): the sweep visits only the weeks old enough, not every account.
        self._idle_by_week: dict[int, set[str]] = {}
        self.candidates: list[dict] = []
        self.snapshot_format = SNAPSHOT_FORMAT

    # ------------------------------------------------------------------ input
    def process_batch(self, events: Iterable[Event]) -> list[Finding]:
        findings: list[Finding] = []
        for event in events:
            findings.extend(self.process(event))
        return findings

    def process(self, event: Event) -> list[Finding]:
        """Update state with one event; return the findings it raised (new cases or stronger evidence).

        Raises :class:`EventRejected` for an event older than the watermark minus the allowed lateness.
        A duplicate ``id`` within the dedup horizon is counted once and returns nothing.
        """
        config = self.config
        ts = event.ts
        if ts < self.watermark - config.allowed_lateness_s:
            self.stats.late += 1
            raise EventRejected(f"late: {self.watermark - ts:.0f}s behind the watermark")
        event_id = event.id
        if event_id is not None and self._is_duplicate(event_id, ts):
            self.stats.duplicates += 1
            return []
        self.stats.events += 1
        if ts > self.watermark:
            self.watermark = ts
            if ts - self._last_sweep > WEEK:  # idle means months; a weekly sweep is plenty
                self._sweep(ts)
        actor, target = event.actor, event.target
        info = self.accounts.get(actor)
        if info is None:
            info = self._new_account(actor, ts)
        info.observe(ts, event.actor_profile)
        self._observe(target, ts)
        graph = self.graph
        if not event.is_boost:
            graph.remove(actor, target)
            return []
        new_pair = graph.add(actor, target, ts)
        if event_id is not None:
            ids = self.recent_ids.get(actor)
            if ids is None:
                ids = self.recent_ids[actor] = deque(maxlen=32)
            ids.append((target, event_id))
        findings: list[Finding] = []
        if new_pair:
            finding = self._on_new_booster(target, actor, event)
            if finding is not None:
                findings.append(finding)
        members, model = self._ring_candidate(actor, target, ts, new_pair)
        if members:
            finding = self._ring_finding(members, ts, model)
            if finding is not None:
                findings.append(finding)
        return findings

    def _ring_candidate(self, actor: str, target: str, ts: float, new_pair: bool) -> tuple[set[str], str]:
        """The group this boost may reveal, and the model that scores it (empty when there is none).

        Three searches, from mature to young; the first that yields a group wins. Which one runs depends only on
        the graph, never on a score, so the recorded candidates do not depend on the weights (or `detector train`
        would chase its own tail).
        """
        graph = self.graph
        # A ring shows as answered boosts, and before that as boosts that close triangles (the actor already
        # boosts someone who boosts the target); other boosts cannot change a group around the actor.
        if graph.boosted(target, actor, ts) or (new_pair and graph.closes_triangle(actor, target)):
            members = self._tie_group(actor, target, ts)
            if members:
                return members, FARMING_RING
        if not new_pair:
            return set(), FARMING_RING
        # A ring of bought accounts is visible even earlier, before anything is answered: fresh accounts whose
        # boosts stay among themselves.
        if self._fresh(actor, ts) and self._fresh(target, ts):
            members = self._candidate_group(self.finder.cohort(actor, target, ts, lambda m: self._fresh(m, ts)))
            if members:
                return members, EARLY_RING_MODEL
        # Hijacked accounts are not fresh, but a ring trading in sessions shows within its first session.
        if self.finder.could_be_member(actor) and self.finder.could_be_member(target):
            return self._candidate_group(self.finder.lockstep(actor, target, ts)), EARLY_RING_MODEL
        return set(), EARLY_RING_MODEL

    def _fresh(self, account: str, now: float) -> bool:
        # Only a known creation time counts: an account seen merely as a target has no age to speak of.
        info = self.accounts.get(account)
        return info is not None and info.created_ts is not None and info.age_days(now) < FRESH_DAYS

    def _candidate_group(self, members: set[str]) -> set[str]:
        """The group if it is big enough to be scored, else nothing."""
        if len(members) < self.config.min_ring_size:
            return set()
        self.stats.ring_evaluations += 1
        return members

    # ------------------------------------------------------------------ rings
    def _tie_group(self, a: str, b: str, ts: float) -> set[str]:
        # Organic traders interact constantly; re-evaluating on every tie would cost a neighbourhood search per
        # event. Re-evaluate when the account's partners grew by a quarter (so a ring is seen early and then at
        # geometrically spaced sizes), when they changed and a day passed, or weekly (partners leaving the window
        # change the closure too). After a search that found no group of `min_ring_size`, or the same size of
        # group as last time, back off: wait for the partners to grow by half, or three days.
        graph = self.graph
        if not (self.finder.could_be_member(a) and self.finder.could_be_member(b)):
            return set()
        # The group can only grow past the pair through an account boosting both (see RingFinder.grow).
        if not graph.shares_booster(a, b):
            return set()
        ties = graph.ties(a)
        last = self._ring_checked.get(a)
        if last is not None:
            last_ties, last_ts, promising, _ = last
            grew = ties >= last_ties + (max(1, last_ties // 4) if promising else max(2, last_ties // 2))
            changed_a_while_ago = ties != last_ties and ts - last_ts >= (DAY if promising else 3 * DAY)
            if not (grew or changed_a_while_ago or ts - last_ts >= 7 * DAY):
                return set()
        self._ring_checked[a] = (ties, ts, False, 0)
        members = self.finder.grow(a, b, ts)
        if len(members) < self.config.min_ring_size:
            self._back_off(members, ts)
            return set()
        # Eager while the group keeps growing (a ring being assembled), back off once it stops (an organic
        # community, or a ring already complete): a rule on the graph, not on the score (see _ring_candidate).
        grown = len(members) > (last[3] if last is not None else 0)
        if not grown:
            self._back_off(members, ts)  # the whole group was examined again and has not changed
        self._ring_checked[a] = (ties, ts, grown, len(members))
        return self._candidate_group(members)

    def _ring_finding(self, members: set[str], ts: float, model: str) -> Finding | None:
        """Score a candidate group with the named model's weights; a finding when it crosses the threshold."""
        features = describe(members, self.finder, self.accounts, ts).as_dict()
        score, contributions = self.scorer.score(FARMING_RING, features, model)
        self._candidate(FARMING_RING, model, members, features, score, ts)
        if score < self.config.threshold:
            return None
        case_id, members = self._ring_case(members)
        if not self._is_news(case_id, len(members), score, ts):
            return None
        edges = self.graph.edges_within(members, ts)
        evidence = {
            "summary": (
                f"{len(members)} accounts boosting each other: {features['inflow_closure']:.0%} of their "
                f"recent boosters and {features['outflow_closure']:.0%} of their recent boost targets are "
                f"inside the group; {features['fresh_share']:.0%} created in the last {FRESH_DAYS:g} days; "
                f"{features['lockstep_share']:.0%} of the boosts inside made in the last hour"
            ),
            "members": sorted(members),
            "edges": [[s, d, t] for s, d, t in edges[:400]],
            "features": features,
            "model": model,
        }
        sample = [eid for m in sorted(members) for (t, eid) in self.recent_ids.get(m, ()) if t in members]
        first_ts = min((t for _, _, t in edges), default=ts)
        return self._finding(FARMING_RING, case_id, members, score, contributions, evidence, sample, first_ts, ts)

    def _back_off(self, members: set[str], ts: float) -> None:
        """The whole group was just examined and is too small, or no bigger than before: its members back off as
        if evaluated, remembering the group's size."""
        graph = self.graph
        size = len(members)
        for m in members:
            self._ring_checked[m] = (graph.ties(m), ts, False, size)

    def _ring_case(self, members: set[str]) -> tuple[str, set[str]]:
        """Reuse the case of a ring already flagged when most of the smaller of the two groups is shared, so a
        ring that grows stays one case; a mere overlap does not merge (a hijacked member's organic circle is not
        the ring). Two earlier halves of one ring are merged into the older case."""
        overlaps = Counter(self._ring_of[m] for m in members if m in self._ring_of)
        same = sorted(c for c, n in overlaps.items() if n * 2 >= min(len(members), len(self._rings[c])))
        if same:
            case_id = same[0]
            for other in same:
                members = members | self._rings[other]
        else:
            case_id = stable_case_id(FARMING_RING, ",".join(sorted(members)))
        self._rings[case_id] = members
        for m in members:
            self._ring_of[m] = case_id
        return case_id, members

    # ------------------------------------------------------------------ growth
    def _on_new_booster(self, target: str, follower: str, event: Event) -> Finding | None:
        config = self.config
        ledger = self.ledgers.get(target)
        if ledger is None:
            ledger = self.ledgers[target] = FollowerLedger(
                config.growth_window_days * DAY, config.baseline_half_life_days * DAY, max_recent=4096
            )
        ledger.add(follower, event.ts, event.id)
        n = len(ledger.recent)
        # Evaluate at geometrically spaced sizes: cheap on huge accounts, still early on a starting burst.
        if n < max(config.min_burst, self._growth_next.get(target, 0)):
            return None
        self._growth_next[target] = n + max(5, n // 4)
        self.stats.growth_evaluations += 1
        growth = growth_features(target, ledger, self.accounts, self.graph, event.ts)
        features = growth.as_dict()
        score, contributions = self.scorer.score(FOLLOWER_GROWTH, features)
        self._candidate(FOLLOWER_GROWTH, FOLLOWER_GROWTH, {target}, features, score, event.ts)
        if score < config.threshold:
            return None
        case_id = stable_case_id(FOLLOWER_GROWTH, target)
        # A burst's extent counts in doublings: reviewers see it grow without a revision per evaluation.
        if not self._is_news(case_id, growth.new_followers.bit_length(), score, event.ts):
            return None
        window = [item for item in ledger.recent]
        evidence = {
            "summary": (
                f"{growth.new_followers} new boosters in {growth.window_days:g} days against a baseline of "
                f"{growth.baseline_per_day:.1f}/day; {growth.fresh_share:.0%} fresh, "
                f"{growth.low_quality_share:.0%} low-quality, {growth.batch_share:.0%} batch-created"
            ),
            "burst_window": {
                "start": window[0][0],
                "end": window[-1][0],
                "new_followers": growth.new_followers,
                "baseline_per_day": growth.baseline_per_day,
                "fresh_share": growth.fresh_share,
                "batch_share": growth.batch_share,
            },
            "followers_sample": [f for _, f, _ in window[-50:]],
            "features": features,
        }
        sample = [eid for _, _, eid in window if eid is not None]
        return self._finding(
            FOLLOWER_GROWTH, case_id, {target}, score, contributions, evidence, sample, window[0][0], event.ts
        )

    def _candidate(self, scheme: str, model: str, accounts: set[str], features: dict, score: float, ts: float) -> None:
        best = self.best_scores
        for account in accounts:
            if score > best.get(account, 0.0):
                best[account] = score
        if self.config.record_candidates:
            self.candidates.append(
                {
                    "scheme": scheme,
                    "model": model,
                    "ts": ts,
                    "accounts": sorted(accounts),
                    "features": features,
                    "score": score,
                }
            )

    # ------------------------------------------------------------------ findings
    def _is_news(self, case_id: str, extent: int, score: float, ts: float) -> bool:
        """Whether a case crossing the threshold is reported (and then counted as reported): a new case within the
        day's budget, or a stronger score or a bigger scheme. Asked before the evidence is gathered, which most
        re-flagged cases never need."""
        previous = self._revisions.get(case_id)
        if previous is not None:
            # Only a stronger score or a bigger scheme is news; anything else would flood reviewers and alerts.
            if score <= previous[1] + 0.02 and extent <= previous[0]:
                return False
        elif not self._within_budget(ts, score):
            self.stats.held_by_budget += 1
            return False
        self._revisions[case_id] = (max(extent, previous[0]), max(score, previous[1])) if previous else (extent, score)
        return True

    def _finding(
        self,
        scheme: str,
        case_id: str,
        accounts: set[str],
        score: float,
        contributions: list[tuple[str, float, float]],
        evidence: dict,
        sample_ids: list[str],
        first_ts: float,
        ts: float,
    ) -> Finding:
        """The finding of a case :meth:`_is_news` let through."""
        evidence["top_features"] = [
            {"name": n, "value": round(v, 6), "contribution": round(c, 6)} for n, v, c in contributions[:6]
        ]
        evidence["sample_event_ids"] = sample_ids[-self.config.sample_event_ids :]
        finding = Finding(
            case_id=case_id,
            scheme=scheme,
            accounts=tuple(sorted(accounts)),
            score=round(score, 6),
            flagged_ts=ts,
            first_event_ts=first_ts,
            last_event_ts=ts,
            model_version=MODEL_VERSION,
            evidence=evidence,
        )
        for account in accounts:
            self._record(account, finding)
        self.stats.findings += 1
        return finding

    def _within_budget(self, ts: float, score: float) -> bool:
        """At most ``max_new_cases_per_day`` new cases per event-time day keeps the review queue workable;
        near-certain cases (score >= 0.95) always pass."""
        day = int(ts // DAY)
        if day != self._budget_day:
            self._budget_day, self._budget_used = day, 0
        if self._budget_used >= self.config.max_new_cases_per_day and score < 0.95:
            return False
        self._budget_used += 1
        return True

    def _record(self, account: str, finding: Finding) -> None:
        result = self.results.get(account)
        if result is None:
            result = self.results[account] = AccountResult()
        if not result.flagged:
            result.flagged = True
            result.first_flagged_ts = finding.flagged_ts
        # The evidence shown is the strongest case's, kept current as that case grows.
        if finding.score >= result.score or finding.case_id == result.evidence_case_id:
            result.score = max(result.score, finding.score)
            result.evidence = finding.evidence
            result.evidence_case_id = finding.case_id
        if finding.scheme not in result.schemes:
            result.schemes.append(finding.scheme)
        if finding.case_id not in result.case_ids:
            result.case_ids.append(finding.case_id)

    def best_score(self, account: str) -> float:
        """The highest score the account reached in any candidate, flagged or not (0 when it never was in one)."""
        result = self.results.get(account)
        return max(self.best_scores.get(account, 0.0), result.score if result is not None else 0.0)

    def learn_decision(self, scheme: str, features: dict[str, float], confirmed: bool) -> None:
        """Feed a reviewer decision to the online classifier."""
        self.scorer.learn_decision(scheme, features, confirmed)

    # ------------------------------------------------------------------ bookkeeping
    def _observe(self, account: str, ts: float) -> AccountInfo:
        info = self.accounts.get(account)
        if info is None:
            info = self._new_account(account, ts)
        elif ts > info.last_seen:
            info.last_seen = ts
        return info

    def _new_account(self, account: str, ts: float) -> AccountInfo:
        info = self.accounts[account] = AccountInfo(ts)
        self._file_for_sweep(account, ts)
        return info

    def _file_for_sweep(self, account: str, last_seen: float) -> None:
        week = int(last_seen // WEEK)
        accounts = self._idle_by_week.get(week)
        if accounts is None:
            accounts = self._idle_by_week[week] = set()
        accounts.add(account)

    def _is_duplicate(self, event_id: str, ts: float) -> bool:
        seen = self._seen_ids
        if event_id in seen:
            return True
        seen[event_id] = ts
        horizon = self.watermark - self.config.dedup_horizon_s
        while seen and (len(seen) > self.config.dedup_max_ids or next(iter(seen.values())) < horizon):
            seen.popitem(last=False)
        return False

    def _sweep(self, now: float) -> None:
        """Forget accounts idle for longer than every window, unless they are part of a flagged case."""
        self._last_sweep = now
        horizon = now - self.config.idle_eviction_days * DAY
        # Last-seen times only grow, so an account idle since before the horizon is filed under a week up to the
        # horizon's; accounts seen since are filed again under their current week.
        due = [week for week in self._idle_by_week if week <= horizon // WEEK]
        idle = []
        for week in due:
            for account in self._idle_by_week.pop(week):
                info = self.accounts.get(account)
                if info is None or account in self.results:  # evicted already, or flagged: kept for good
                    continue
                if info.last_seen < horizon:
                    idle.append(account)
                else:
                    self._file_for_sweep(account, info.last_seen)
        for account in idle:
            del self.accounts[account]
            self.graph.forget(account)
            self.ledgers.pop(account, None)
            self.recent_ids.pop(account, None)
            self._ring_checked.pop(account, None)
            self._growth_next.pop(account, None)
            if not self.config.keep_forgotten_scores:
                self.best_scores.pop(account, None)
        self.stats.evicted_accounts += len(idle)

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> bytes:
        """All state, for checkpoints; :meth:`restore` continues exactly where this left off."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def restore(blob: bytes) -> Engine:
        engine = pickle.loads(blob)
        if not isinstance(engine, Engine):
            raise TypeError("not an engine snapshot")
        found = getattr(engine, "snapshot_format", 1)
        if found != SNAPSHOT_FORMAT:
            raise ValueError(f"engine snapshot of format {found}: this engine restores only format {SNAPSHOT_FORMAT}")
        return engine
