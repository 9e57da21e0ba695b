//! The engine's per-account state and the per-event rules deciding what to score (the engine's `EngineState`).
//!
//! Per event: deduplication, the account records, the recent-boost graph, the follower ledger of a newly boosted
//! account, and which ring search (if any) the boost triggers, with its re-search throttle. Most events end here;
//! the engine (Python) scores only the candidates this returns. Why each rule is in docs/detection.md; the code
//! here must give exactly what the rules say, the evaluation checks it byte for byte.

use std::collections::VecDeque;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::codec::{Reader, Writer};
use crate::graph::{Graph, Id, IdSet};
use crate::rings::{follower_ties, is_new, is_widely_tied, Finder, Rules, Youth, POPULAR_QUANTILE};

pub const DAY: f64 = 86_400.0;
const WEEK: f64 = 7.0 * DAY;
/// Accounts younger than this are fresh: what bought accounts and fresh ring members are when they act.
pub const FRESH_DAYS: f64 = 30.0;
/// Ties a member made at least this long before a group is scored show whom it knew before trading in the group
/// (docs/detection.md, *Acquainted members*).
pub const ACQUAINTED_DAYS: f64 = 7.0;
/// An account acting again after this long without acting is back from dormancy (what a taken-over account often
/// is); the reviewer's member table says so, and for as long again it may start a returning cohort.
pub const DORMANT_DAYS: f64 = 30.0;
/// The new-ties path keeps a group when at least half of its ties inside were first boosted this recently.
pub const NEW_TIES_GROUP_DAYS: f64 = 14.0;
/// A boost of a pair that traded before, between a returning account and a young one, starts a returning cohort
/// search when the actor started none for this long.
pub const COHORT_REPEAT_DAYS: f64 = 1.0;
/// Bought followers follow at least this many accounts (95 % of Cresci et al.'s follow 170 or more); a newcomer
/// following what its platform suggests at signup follows fewer (docs/detection.md, *Newcomers and signup waves*).
const FOLLOW_HEAVY_MIN: i64 = 150;
/// Bought accounts were created up to ~100 within ten minutes (Cresci et al. 2015).
pub const BATCH_SECONDS: f64 = 600.0;
/// Forgotten accounts whose last action is remembered, so a return after a long sleep still shows (the most
/// recently active ones are kept when there are more).
const MAX_FORGOTTEN_ACTORS: usize = 200_000;
/// Per actor, the latest (target, event id) pairs kept as evidence.
const RECENT_IDS: usize = 32;
/// Follower quality is judged on the latest followers only, to bound the cost on huge accounts.
const MAX_SAMPLED: usize = 400;
/// Per boosted account, the new boosters kept in detail inside the growth window.
const MAX_RECENT_BOOSTERS: usize = 4096;
const STATE_FORMAT: u8 = 4;

/// An account's return after a dormancy: when, and how many days it had been idle before.
pub type Return = (f64, f64);

#[derive(Clone, Copy)]
pub struct Config {
    pub growth_window: f64,
    pub half_life: f64,
    pub min_burst: usize,
    pub allowed_lateness: f64,
    pub dedup_horizon: f64,
    pub dedup_max_ids: usize,
    pub idle_eviction: f64,
    pub keep_forgotten_scores: bool,
}

/// The actor's profile as the event carried it (every field optional).
#[derive(Clone, Copy, Default)]
pub struct Profile {
    pub created_ts: Option<f64>,
    pub followers: Option<i64>,
    pub following: Option<i64>,
    pub posts: Option<i64>,
}

/// When an account was last searched from: its ties then, when, whether to look again eagerly, the group found.
#[derive(Clone, Copy)]
struct Checked {
    ties: usize,
    at: f64,
    promising: bool,
    size: usize,
}

impl Checked {
    /// Whether to search from the account again now that it has `ties` partners: when they grew by a quarter
    /// (eager) or a half, when they changed and a day (eager) or three passed, or after a week.
    fn due(&self, ties: usize, now: f64) -> bool {
        let (step, pause) = if self.promising {
            (1.max(self.ties / 4), DAY)
        } else {
            (2.max(self.ties / 2), 3.0 * DAY)
        };
        ties >= self.ties + step || (ties != self.ties && now - self.at >= pause) || now - self.at >= WEEK
    }
}

/// What the ordinary search around a traded pair did (`State::tie_group`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum TieSearch {
    /// Not a pair it searches (a hub, or no shared booster).
    Skipped,
    /// The actor was searched from recently (the throttle).
    Waiting,
    /// It ran and found no group.
    Failed,
    /// It ran and found a group.
    Found,
}

#[derive(Default)]
pub struct Account {
    first_seen: f64,
    last_seen: f64,
    /// When it last acted (boosted, or withdrew a boost), and when it last came back after `DORMANT_DAYS` or more
    /// without acting, with how many days it had been idle.
    last_acted: Option<f64>,
    returned: Option<Return>,
    profile: Profile,
    /// The highest score of any candidate the account was in.
    best_score: f64,
    /// Part of a flagged case: never forgotten.
    flagged: bool,
    checked: Option<Checked>,
    /// ... and by the new-ties path (`NEW_TIES_GROUP_DAYS`), which has a throttle of its own.
    checked_new_ties: Option<Checked>,
    /// When it last started a returning cohort search (`COHORT_REPEAT_DAYS`).
    cohort_searched: Option<f64>,
    /// New boosters at which its growth is evaluated next.
    growth_next: usize,
    ledger: Option<Box<Ledger>>,
    /// Its latest boosts with an event id, as (target, id).
    recent_ids: VecDeque<(Box<str>, Box<str>)>,
}

impl Account {
    fn new(first_seen: f64) -> Self {
        Account {
            first_seen,
            last_seen: first_seen,
            ..Default::default()
        }
    }

    /// Account age: from the platform's creation time when known, else from the first event seen.
    fn age_days(&self, now: f64) -> f64 {
        let born = self.profile.created_ts.unwrap_or(self.first_seen);
        ((now - born) / DAY).max(0.0)
    }

    /// Young by its known creation time (an account seen merely as a target has no age to speak of).
    fn fresh(&self, now: f64) -> bool {
        self.profile.created_ts.is_some() && self.age_days(now) < FRESH_DAYS
    }

    /// Follows far more than it is followed (50 or more), or has barely posted: the profile shape of bought followers
    /// (calibrated on Cresci et al. 2015, docs/detection.md).
    fn low_quality(&self) -> bool {
        if self.profile.followers.is_none() || self.profile.following.is_none() {
            return false;
        }
        self.follows_far_more(50) || self.profile.posts.is_some_and(|posts| posts < 20)
    }

    /// Follows ten times more accounts than follow it, and `FOLLOW_HEAVY_MIN` or more: 94 % of Cresci et al.'s bought
    /// followers, 1 % of its humans. A newcomer has barely posted, but has not followed hundreds yet.
    fn follow_heavy(&self) -> bool {
        self.follows_far_more(FOLLOW_HEAVY_MIN)
    }

    fn follows_far_more(&self, at_least: i64) -> bool {
        let (Some(followers), Some(following)) = (self.profile.followers, self.profile.following) else {
            return false;
        };
        following >= followers.max(1).saturating_mul(10) && following >= at_least
    }
}

/// Per boosted account: the new boosters of the growth window in detail, the past as a decayed count.
#[derive(Default)]
pub struct Ledger {
    /// (time, booster, event id), oldest first.
    recent: VecDeque<(f64, Box<str>, Option<Box<str>>)>,
    /// New boosters that left the window, exponentially decayed.
    decayed: f64,
    decayed_at: Option<f64>,
    started: Option<f64>,
}

impl Ledger {
    fn add(&mut self, config: &Config, booster: &str, ts: f64, event_id: Option<&str>) {
        self.started.get_or_insert(ts);
        self.recent.push_back((ts, booster.into(), event_id.map(Into::into)));
        self.expire(config, ts);
        if self.recent.len() > MAX_RECENT_BOOSTERS {
            self.recent.pop_front();
            self.retire(config, ts);
        }
    }

    fn expire(&mut self, config: &Config, now: f64) {
        let horizon = now - config.growth_window;
        while self.recent.front().is_some_and(|first| first.0 < horizon) {
            self.recent.pop_front();
            self.retire(config, now);
        }
    }

    /// A new booster leaves the detailed window and joins the decayed baseline.
    fn retire(&mut self, config: &Config, now: f64) {
        self.decay_to(config, now);
        self.decayed += 1.0;
    }

    fn decay_to(&mut self, config: &Config, now: f64) {
        if let Some(at) = self.decayed_at {
            if now > at {
                self.decayed *= 0.5f64.powf((now - at) / config.half_life);
            }
        }
        self.decayed_at = Some(self.decayed_at.map_or(now, |at| at.max(now)));
    }

    /// Baseline new boosters per day before the window (the decayed count over the decay's effective span).
    fn rate_per_day(&mut self, config: &Config, now: f64) -> f64 {
        self.decay_to(config, now);
        let history = (now - config.growth_window - self.started.unwrap_or(now)).max(0.0);
        // An exponential decay with half-life h integrates to h/ln2; young accounts have a shorter history.
        let span_days = (history.min(config.half_life / std::f64::consts::LN_2) / DAY).max(1.0);
        self.decayed / span_days
    }
}

/// Which search found a candidate ring: each is a population of its own, scored by weights fitted on it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RingPath {
    /// Grown from a traded pair.
    Grown,
    /// Grown from a traded pair with the dense path's looser first steps, where the ordinary growth found nothing.
    Dense,
    /// A young ring: a fresh cohort, or a lockstep session.
    Young,
    /// A cohort of accounts back from dormancy that were strangers before.
    Returning,
    /// Grown from a traded pair, all its members fresh or back from dormancy, and strangers before.
    ReturningGrown,
    /// The peeled neighbourhood of a traded pair with few partners.
    Local,
    /// Grown by the dense path from a pair trading for the first time while the ordinary search waits, its ties
    /// mostly new.
    NewTies,
}

impl RingPath {
    pub fn name(self) -> &'static str {
        match self {
            RingPath::Grown => "grown",
            RingPath::Dense => "dense",
            RingPath::Young => "young",
            RingPath::Returning => "returning",
            RingPath::ReturningGrown => "returning_grown",
            RingPath::Local => "local",
            RingPath::NewTies => "new_ties",
        }
    }
}

/// What one event asks the engine to score.
pub struct Outcome {
    /// The boosted account's growth reached its next evaluation.
    pub growth: bool,
    /// A candidate ring, and the search that found it.
    pub ring: Option<(IdSet, RingPath)>,
}

#[derive(Default)]
pub struct Counters {
    pub events: u64,
    pub duplicates: u64,
    pub late: u64,
    pub ring_evaluations: u64,
    pub growth_evaluations: u64,
    pub evicted_accounts: u64,
}

/// The raw follower-growth features, in `GrowthFeatures`' field order.
pub type Growth = (usize, f64, f64, f64, f64, f64, f64, f64, f64, f64);

pub struct State {
    pub config: Config,
    accounts: FxHashMap<Box<str>, Account>,
    /// Best scores of forgotten accounts (kept only with `keep_forgotten_scores`).
    forgotten_scores: FxHashMap<Box<str>, f64>,
    /// When forgotten accounts last acted (at most about `MAX_FORGOTTEN_ACTORS`), restored when they come back.
    forgotten_last_acted: FxHashMap<Box<str>, f64>,
    pub watermark: f64,
    last_sweep: f64,
    seen_ids: FxHashSet<Arc<str>>,
    /// The ids of `seen_ids` in the order first seen, with their event time.
    seen_order: VecDeque<(Arc<str>, f64)>,
    /// Accounts to look at in the idle sweep, by the week they were last seen in when filed (they may have been
    /// seen since): the sweep visits only the weeks old enough, not every account.
    idle_by_week: FxHashMap<i64, Vec<Box<str>>>,
    pub counters: Counters,
}

impl State {
    pub fn new(config: Config) -> Self {
        State {
            config,
            accounts: FxHashMap::default(),
            forgotten_scores: FxHashMap::default(),
            forgotten_last_acted: FxHashMap::default(),
            watermark: f64::NEG_INFINITY,
            last_sweep: f64::NEG_INFINITY,
            seen_ids: FxHashSet::default(),
            seen_order: VecDeque::new(),
            idle_by_week: FxHashMap::default(),
            counters: Counters::default(),
        }
    }

    /// Update state with one event. `Err` carries how far behind the watermark a too-late event is; `Ok(None)` is
    /// an event with nothing to score (a duplicate id too).
    #[allow(clippy::too_many_arguments)]
    pub fn process(
        &mut self,
        g: &mut Graph,
        rules: &Rules,
        ts: f64,
        boost: bool,
        actor: &str,
        target: &str,
        event_id: Option<&str>,
        profile: Option<Profile>,
    ) -> Result<Option<Outcome>, f64> {
        if ts < self.watermark - self.config.allowed_lateness {
            self.counters.late += 1;
            return Err(self.watermark - ts);
        }
        if let Some(id) = event_id {
            if self.is_duplicate(id, ts) {
                self.counters.duplicates += 1;
                return Ok(None);
            }
        }
        self.counters.events += 1;
        if ts > self.watermark {
            self.watermark = ts;
            if ts - self.last_sweep > WEEK {
                self.sweep(g, ts); // idle means months; a weekly sweep is plenty
            }
        }
        let info = self.observe(actor, ts);
        if ts < info.first_seen {
            info.first_seen = ts;
        }
        if let Some(last) = info.last_acted.filter(|&last| ts - last >= DORMANT_DAYS * DAY) {
            info.returned = Some((ts, (ts - last) / DAY));
        }
        info.last_acted = Some(info.last_acted.map_or(ts, |last| last.max(ts)));
        if let Some(p) = profile {
            let known = &mut info.profile;
            known.created_ts = p.created_ts.or(known.created_ts);
            known.followers = p.followers.or(known.followers);
            known.following = p.following.or(known.following);
            known.posts = p.posts.or(known.posts);
        }
        if let Some(id) = event_id.filter(|_| boost) {
            if info.recent_ids.len() == RECENT_IDS {
                info.recent_ids.pop_front();
            }
            info.recent_ids.push_back((target.into(), id.into()));
        }
        self.observe(target, ts);
        if !boost {
            g.remove(actor, target);
            return Ok(None);
        }
        let (new_pair, a, b) = g.add(actor, target, ts);
        let growth = new_pair && self.on_new_booster(target, actor, ts, event_id);
        let ring = self.ring_candidate(g, rules, (actor, target), (a, b), ts, new_pair);
        Ok((growth || ring.is_some()).then_some(Outcome { growth, ring }))
    }

    fn is_duplicate(&mut self, event_id: &str, ts: f64) -> bool {
        if self.seen_ids.contains(event_id) {
            return true;
        }
        let id: Arc<str> = event_id.into();
        self.seen_ids.insert(id.clone());
        self.seen_order.push_back((id, ts));
        let horizon = self.watermark - self.config.dedup_horizon;
        while let Some((oldest, oldest_ts)) = self.seen_order.front() {
            if self.seen_order.len() <= self.config.dedup_max_ids && *oldest_ts >= horizon {
                break;
            }
            self.seen_ids.remove(oldest);
            self.seen_order.pop_front();
        }
        false
    }

    /// The account's record, created when it is new; its last-seen time moved forward.
    fn observe(&mut self, account: &str, ts: f64) -> &mut Account {
        if !self.accounts.contains_key(account) {
            file_for_sweep(&mut self.idle_by_week, account, ts);
            let mut info = Account::new(ts);
            info.last_acted = self.forgotten_last_acted.remove(account);
            self.accounts.insert(account.into(), info);
        }
        let info = self.accounts.get_mut(account).expect("held or inserted above");
        if ts > info.last_seen {
            info.last_seen = ts;
        }
        info
    }

    /// Forget accounts idle for longer than every window, unless they are part of a flagged case.
    fn sweep(&mut self, g: &mut Graph, now: f64) {
        self.last_sweep = now;
        g.refresh_tie_quantile(POPULAR_QUANTILE);
        let horizon = now - self.config.idle_eviction;
        // Last-seen times only grow, so an account idle since before the horizon is filed under a week up to the
        // horizon's; accounts seen since are filed again under their current week.
        let last_due = py_floordiv(horizon, WEEK);
        let due: Vec<i64> = self
            .idle_by_week
            .keys()
            .copied()
            .filter(|&week| week as f64 <= last_due)
            .collect();
        let mut idle = Vec::new();
        for week in due {
            for account in self.idle_by_week.remove(&week).unwrap_or_default() {
                match self.accounts.get(&account) {
                    None => {}
                    Some(info) if info.flagged => {}
                    Some(info) if info.last_seen < horizon => idle.push(account),
                    Some(info) => file_for_sweep(&mut self.idle_by_week, &account, info.last_seen),
                }
            }
        }
        let mut evicted = 0;
        for account in &idle {
            let Some(info) = self.accounts.remove(account) else {
                continue; // filed twice: forgotten already
            };
            evicted += 1;
            g.forget(account);
            if self.config.keep_forgotten_scores && info.best_score > 0.0 {
                let kept = self.forgotten_scores.entry(account.clone()).or_insert(0.0);
                *kept = kept.max(info.best_score);
            }
            if let Some(last) = info.last_acted {
                self.forgotten_last_acted.insert(account.clone(), last);
            }
        }
        self.counters.evicted_accounts += evicted;
        if self.forgotten_last_acted.len() > MAX_FORGOTTEN_ACTORS {
            // Keep the most recently active (ties at the cut all stay, so the bound is approximate).
            let mut times: Vec<f64> = self.forgotten_last_acted.values().copied().collect();
            let cut = times.len() - MAX_FORGOTTEN_ACTORS;
            let (_, &mut oldest_kept, _) = times.select_nth_unstable_by(cut, f64::total_cmp);
            self.forgotten_last_acted.retain(|_, &mut last| last >= oldest_kept);
        }
    }

    // ------------------------------------------------------------------ growth
    /// Record a new booster; true when the account's growth is due for evaluation.
    fn on_new_booster(&mut self, target: &str, booster: &str, ts: f64, event_id: Option<&str>) -> bool {
        let config = &self.config;
        let Some(info) = self.accounts.get_mut(target) else {
            return false; // targets are observed first: never reached
        };
        let ledger = info.ledger.get_or_insert_with(Default::default);
        ledger.add(config, booster, ts, event_id);
        let n = ledger.recent.len();
        // Evaluate at geometrically spaced sizes: cheap on huge accounts, still early on a starting burst.
        if n < config.min_burst.max(info.growth_next) {
            return false;
        }
        info.growth_next = n + 5.max(n / 4);
        self.counters.growth_evaluations += 1;
        true
    }

    /// The follower-growth features of an account at `now` (see growth.py's `GrowthFeatures`).
    pub fn growth(&mut self, g: &Graph, account: &str, now: f64) -> Option<Growth> {
        let config = &self.config;
        let baseline = self
            .accounts
            .get_mut(account)?
            .ledger
            .as_mut()?
            .rate_per_day(config, now);
        let ledger = self.accounts.get(account)?.ledger.as_ref()?;
        let n = ledger.recent.len();
        let window_days = config.growth_window / DAY;
        let expected = baseline * window_days;
        let excess_z = (n as f64 - expected) / (expected + 1.0).sqrt();
        let sample: Vec<&str> = ledger
            .recent
            .range(n.saturating_sub(MAX_SAMPLED)..)
            .map(|r| &*r.1)
            .collect();
        let m = sample.len().max(1) as f64;
        let infos: Vec<&Account> = sample.iter().filter_map(|f| self.accounts.get(*f)).collect();
        let fresh = infos.iter().filter(|i| i.age_days(now) < FRESH_DAYS).count();
        let low = infos.iter().filter(|i| i.low_quality()).count();
        let heavy = infos.iter().filter(|i| i.follow_heavy()).count();
        let mut buckets: FxHashMap<i64, usize> = FxHashMap::default();
        for created in infos.iter().filter_map(|i| i.profile.created_ts) {
            *buckets.entry(batch_bucket(created)).or_insert(0) += 1;
        }
        let mass = |b: i64| {
            (b - 1..=b + 1)
                .map(|x| buckets.get(&x).copied().unwrap_or(0))
                .sum::<usize>()
        };
        // Neighbouring buckets too: a batch straddling a bucket edge is still one batch.
        let batch = infos
            .iter()
            .filter_map(|i| i.profile.created_ts)
            .filter(|&created| mass(batch_bucket(created)) >= 5)
            .count();
        let ids: Vec<_> = sample.iter().map(|f| g.id(f)).collect();
        let (trading, lockstep) = follower_ties(g, &ids, g.id(account), now);
        let share = |count: usize| count as f64 / m;
        Some((
            n,
            window_days,
            baseline,
            excess_z,
            share(fresh),
            share(low),
            share(heavy),
            share(batch),
            share(lockstep),
            share(trading),
        ))
    }

    /// The account's new boosters in the growth window, oldest first, as (time, booster, event id).
    pub fn burst_window(&self, account: &str) -> Vec<(f64, &str, Option<&str>)> {
        let Some(ledger) = self.accounts.get(account).and_then(|i| i.ledger.as_ref()) else {
            return Vec::new();
        };
        ledger
            .recent
            .iter()
            .map(|(ts, f, id)| (*ts, &**f, id.as_deref()))
            .collect()
    }

    // ------------------------------------------------------------------ rings
    /// The group this boost may reveal, and whether a young-ring search found it. Three searches, from mature to
    /// young; the first that yields a group wins. Which one runs depends only on the graph, never on a score, so
    /// the recorded candidates do not depend on the weights.
    fn ring_candidate(
        &mut self,
        g: &Graph,
        rules: &Rules,
        (actor, target): (&str, &str),
        (a, b): (Id, Id),
        ts: f64,
        new_pair: bool,
    ) -> Option<(IdSet, RingPath)> {
        let finder = Finder { graph: g, rules };
        // A ring shows as answered boosts, and before that as boosts that close triangles (the actor already
        // boosts someone who boosts the target); other boosts cannot change a group around the actor.
        let mut search = TieSearch::Skipped;
        let answered = g.boosted(b, a, ts);
        if answered || (new_pair && g.closes_triangle(a, b)) {
            let members;
            (members, search) = self.tie_group(&finder, actor, ts, (a, b));
            if !members.is_empty() {
                if self.returning_strangers(g, &members, ts) {
                    return Some((members, RingPath::ReturningGrown));
                }
                return Some((members, RingPath::Grown));
            }
            // Busy accounts close triangles all the time: the paths below need a traded pair.
            if !answered {
                search = TieSearch::Skipped;
            }
        }
        // A ring of bought accounts is visible even earlier, before anything is answered: fresh accounts whose boosts
        // stay among themselves.
        if new_pair && self.is_fresh(actor, ts) && self.is_fresh(target, ts) {
            let mut fresh = |id| {
                if self.is_fresh(g.name(id), ts) {
                    Youth::Fresh
                } else {
                    Youth::Old
                }
            };
            let members = self.candidate_group(finder.cohort(a, b, ts, &mut fresh, &|_| None), rules);
            if !members.is_empty() {
                return Some((members, RingPath::Young));
            }
        }
        // Accounts back from dormancy: on a new pair, and since members come back and the ties of their old lives
        // leave the window without any new pair, on a boost of a pair that traded before too, at most once every
        // `COHORT_REPEAT_DAYS` per actor.
        if self.returning_cohort_due(actor, target, ts, new_pair) {
            let members = self.candidate_group(self.returning_cohort(&finder, (a, b), ts), rules);
            if !members.is_empty() {
                return Some((members, RingPath::Returning));
            }
        }
        // Hijacked accounts are not fresh, but a ring trading in sessions shows within its first session.
        if new_pair && finder.could_be_member(a) && finder.could_be_member(b) {
            let members = self.candidate_group(finder.lockstep(a, b, ts), rules);
            if !members.is_empty() {
                return Some((members, RingPath::Young));
            }
        }
        // Where the ordinary search waits, a pair trading for the first time: the dense path's growth on a throttle of
        // its own, kept only if the group's ties are mostly new (the new-ties path). Its candidates have weights of
        // their own and it touches no other search's throttle, so the other searches' candidates do not depend on it.
        if search == TieSearch::Waiting && new_tie(g, a, b, ts) && new_tie(g, b, a, ts) {
            let members = self.new_ties_group(&finder, actor, ts, (a, b));
            if !members.is_empty() {
                return Some((members, RingPath::NewTies));
            }
        }
        // Last, where the ordinary growth of a traded pair found nothing: busy accounts it could not start from (the
        // dense path, `Finder::grow`), then a small neighbourhood peeled whole (the local path, `Finder::local`).
        // Searched on that growth's throttle and leaving it as that search left it, so the other searches'
        // candidates do not depend on them.
        if search == TieSearch::Failed {
            let members = self.candidate_group(finder.grow(a, b, ts, true), rules);
            if !members.is_empty() {
                return Some((members, RingPath::Dense));
            }
            let members = self.candidate_group(finder.local(a, b, ts), rules);
            if !members.is_empty() {
                return Some((members, RingPath::Local));
            }
        }
        None
    }

    /// Whether the boost starts a returning cohort search (`ring_candidate`): between young accounts, one of them
    /// returning unless the pair is new; remembered as the actor's latest.
    fn returning_cohort_due(&mut self, actor: &str, target: &str, ts: f64, new_pair: bool) -> bool {
        let (actor_youth, target_youth) = (self.youth(actor, ts), self.youth(target, ts));
        if actor_youth == Youth::Old || target_youth == Youth::Old {
            return false;
        }
        let Some(info) = self.accounts.get_mut(actor) else {
            return false;
        };
        let returning = actor_youth == Youth::Returning || target_youth == Youth::Returning;
        let due = new_pair
            || (returning
                && info
                    .cohort_searched
                    .is_none_or(|at| ts - at >= COHORT_REPEAT_DAYS * DAY));
        if due {
            info.cohort_searched = Some(ts);
        }
        due
    }

    /// Fresh by its profile, else returning (back from dormancy within the last `DORMANT_DAYS`), else old.
    fn youth(&self, account: &str, now: f64) -> Youth {
        match self.accounts.get(account) {
            Some(info) if info.fresh(now) => Youth::Fresh,
            _ if self.came_back(account, now).is_some() => Youth::Returning,
            _ => Youth::Old,
        }
    }

    /// When a returning account (`youth`) came back from dormancy: within the last `DORMANT_DAYS`, not fresh.
    fn came_back(&self, account: &str, now: f64) -> Option<f64> {
        let info = self.accounts.get(account)?;
        let (at, _) = info.returned?;
        (!info.fresh(now) && now - at <= DORMANT_DAYS * DAY).then_some(at)
    }

    /// A cohort of accounts back from dormancy (and fresh ones) that were strangers before: hijacked accounts are
    /// often long-idle ones, and a farm's are picked at random.
    fn returning_cohort(&self, finder: &Finder, (a, b): (Id, Id), ts: f64) -> IdSet {
        let g = finder.graph;
        let returning = |members: &IdSet| members.iter().any(|&m| self.youth(g.name(m), ts) == Youth::Returning);
        let returned = |id: Id| self.came_back(g.name(id), ts);
        let members = finder.cohort(a, b, ts, &mut |id| self.youth(g.name(id), ts), &returned);
        if !returning(&members) {
            return IdSet::default();
        }
        let known = self.acquaintances(g, &members, ts);
        if known.is_empty() {
            return members;
        }
        // Members who knew another before count as old accounts, company at most: the others may still be a
        // cohort of strangers (a farm hijacking long-idle accounts at random picks a pair of old friends too).
        let members = finder.cohort(
            a,
            b,
            ts,
            &mut |id| {
                if known.contains(&id) {
                    Youth::Old
                } else {
                    self.youth(g.name(id), ts)
                }
            },
            &returned,
        );
        if !returning(&members) || !self.strangers(g, &members, ts) {
            return IdSet::default();
        }
        members
    }

    /// A grown group of accounts fresh or back from dormancy, one at least returning, that were strangers: judged
    /// as a young ring, like a returning cohort.
    fn returning_strangers(&self, g: &Graph, members: &IdSet, ts: f64) -> bool {
        let youths: Vec<Youth> = members.iter().map(|&m| self.youth(g.name(m), ts)).collect();
        !youths.contains(&Youth::Old) && youths.contains(&Youth::Returning) && self.strangers(g, members, ts)
    }

    /// Whether the members never met (`acquaintances`).
    fn strangers(&self, g: &Graph, members: &IdSet, now: f64) -> bool {
        self.acquaintances(g, members, now).is_empty()
    }

    /// The members who knew another before: through a tie between them from before they knew each other, or an
    /// introducer both knew (`acquainted_pairs`). A member knew whom it tied to `ACQUAINTED_DAYS` or more before
    /// and, if back from dormancy, before its return: a ring's own trading since its members came back, however
    /// long it lasts, does not make them acquainted.
    fn acquaintances(&self, g: &Graph, members: &IdSet, now: f64) -> IdSet {
        let week_ago = now - ACQUAINTED_DAYS * DAY;
        let returns: Vec<Option<f64>> = members.iter().map(|&m| self.came_back(g.name(m), now)).collect();
        let knew = |i: usize, first: f64| first <= week_ago && returns[i].is_none_or(|at| first < at);
        let by_position: Vec<Id> = members.iter().copied().collect();
        let mut known = IdSet::default();
        for (i, &m) in by_position.iter().enumerate() {
            for (&x, tie) in g.out_row(m).iter() {
                if knew(i, tie.first) && members.contains(&x) {
                    known.extend([m, x]);
                }
            }
        }
        for (_, knowing) in self.introductions(g, members, now, knew) {
            known.extend(knowing.iter().map(|&i| by_position[i]));
        }
        known
    }

    fn is_fresh(&self, account: &str, now: f64) -> bool {
        self.accounts.get(account).is_some_and(|info| info.fresh(now))
    }

    /// The group if it is big enough to be scored, else nothing.
    fn candidate_group(&mut self, members: IdSet, rules: &Rules) -> IdSet {
        if members.len() < rules.min_members {
            return IdSet::default();
        }
        self.counters.ring_evaluations += 1;
        members
    }

    /// The group grown from a traded pair, throttled: organic traders interact constantly, and a search per tie
    /// would cost a neighbourhood search per event. Re-search when the account's partners grew by a quarter (so a
    /// ring is seen early and then at geometrically spaced sizes), when they changed and a day passed, or weekly.
    /// After a search that found no group of `min_members`, or a group no bigger than last time, back off: wait
    /// for the partners to grow by half, or three days.
    /// Also what the search did (where the dense, local and new-ties paths then look).
    fn tie_group(&mut self, finder: &Finder, actor: &str, ts: f64, (a, b): (Id, Id)) -> (IdSet, TieSearch) {
        let nothing = (IdSet::default(), TieSearch::Skipped);
        let g = finder.graph;
        if !(finder.could_be_member(a) && finder.could_be_member(b)) {
            return nothing;
        }
        // The group can only grow past the pair through an account boosting both (see `Finder::grow`).
        if !g.shares_booster(a, b) {
            return nothing;
        }
        let ties = g.ties(a);
        let Some(info) = self.accounts.get_mut(actor) else {
            return nothing;
        };
        let last = info.checked;
        if last.is_some_and(|last| !last.due(ties, ts)) {
            return (IdSet::default(), TieSearch::Waiting);
        }
        info.checked = Some(Checked {
            ties,
            at: ts,
            promising: false,
            size: 0,
        });
        let members = finder.grow(a, b, ts, false);
        if members.len() < finder.rules.min_members {
            self.back_off(g, &members, ts);
            return (IdSet::default(), TieSearch::Failed);
        }
        // Eager while the group keeps growing (a ring being assembled), back off once it stops (an organic
        // community, or a ring already complete): a rule on the graph, not on the score.
        let grown = members.len() > last.map_or(0, |last| last.size);
        if !grown {
            self.back_off(g, &members, ts); // the whole group was examined again and has not changed
        }
        if let Some(info) = self.accounts.get_mut(actor) {
            info.checked = Some(Checked {
                ties,
                at: ts,
                promising: grown,
                size: members.len(),
            });
        }
        (self.candidate_group(members, finder.rules), TieSearch::Found)
    }

    /// The new-ties path: the dense path's growth from a pair whose ordinary search waits, on a throttle of its own
    /// (the ordinary one's rules; eager after a group was found). The group counts only when at least half of its
    /// ties inside (each direction counted) were first boosted in the last `NEW_TIES_GROUP_DAYS`: a ring links
    /// strangers, while an organic community's ties are older.
    fn new_ties_group(&mut self, finder: &Finder, actor: &str, ts: f64, (a, b): (Id, Id)) -> IdSet {
        let g = finder.graph;
        let ties = g.ties(a);
        let Some(info) = self.accounts.get_mut(actor) else {
            return IdSet::default();
        };
        if info.checked_new_ties.is_some_and(|last| !last.due(ties, ts)) {
            return IdSet::default();
        }
        let mut members = finder.grow(a, b, ts, true);
        let mut firsts: Vec<f64> = g
            .edges_within(&members, ts)
            .iter()
            .map(|(_, _, tie)| tie.first)
            .collect();
        firsts.sort_by(f64::total_cmp);
        if firsts
            .get(firsts.len() / 2)
            .is_none_or(|&median| median < ts - NEW_TIES_GROUP_DAYS * DAY)
        {
            members.clear();
        }
        let members = self.candidate_group(members, finder.rules);
        if let Some(info) = self.accounts.get_mut(actor) {
            info.checked_new_ties = Some(Checked {
                ties,
                at: ts,
                promising: !members.is_empty(),
                size: members.len(),
            });
        }
        members
    }

    /// The whole group was just examined and is too small, or no bigger than before: its members back off as if
    /// searched from, remembering the group's size.
    fn back_off(&mut self, g: &Graph, members: &IdSet, ts: f64) {
        for &m in members {
            if let Some(info) = self.accounts.get_mut(g.name(m)) {
                info.checked = Some(Checked {
                    ties: g.ties(m),
                    at: ts,
                    promising: false,
                    size: members.len(),
                });
            }
        }
    }

    /// Of the established accounts (not younger than `FRESH_DAYS`) outside the group that boosted a member in the
    /// ring window: how many, and how many boosted two or more members. Bought accounts are fresh: a farm cannot
    /// make its members look like a community's by buying fans for them.
    pub fn established_boosters(&self, g: &Graph, members: &IdSet, now: f64) -> (usize, usize) {
        let mut boosts: FxHashMap<Id, usize> = FxHashMap::default();
        for &m in members {
            for x in g.recent_rev(g.in_row(m), now - g.window) {
                if !members.contains(&x) {
                    *boosts.entry(x).or_default() += 1;
                }
            }
        }
        // Ages are looked up by name: once per booster, not once per member it boosts.
        let established = boosts.iter().filter(|(&x, _)| !self.is_fresh(g.name(x), now));
        established.fold((0, 0), |(all, shared), (_, &n)| (all + 1, shared + (n >= 2) as usize))
    }

    /// How many unordered pairs of members share a partner outside the group that each tie to it is at least
    /// `ACQUAINTED_DAYS` old, that is established and that has at most `POPULAR_TIES` ties kept. An organic
    /// community's members knew the same people before they traded with each other; accounts hijacked or bought
    /// for a ring are strangers until it starts, and bought fans do not introduce them.
    pub fn acquainted_pairs(&self, g: &Graph, members: &IdSet, now: f64) -> usize {
        let before = now - ACQUAINTED_DAYS * DAY;
        let n = members.len();
        let mut pairs = vec![false; n * n];
        for (_, knowing) in self.introductions(g, members, now, |_, first| first <= before) {
            for (a, &i) in knowing.iter().enumerate() {
                for &j in &knowing[a + 1..] {
                    pairs[i * n + j] = true;
                }
            }
        }
        pairs.iter().filter(|&&p| p).count()
    }

    /// The introducers of `acquainted_pairs`, for a reviewer: each established partner outside the group that two
    /// or more members knew a week or more before, with those members' names (sorted), the most widely known first
    /// (then by name), at most `limit`.
    pub fn introducers<'g>(
        &self,
        g: &'g Graph,
        members: &IdSet,
        now: f64,
        limit: usize,
    ) -> Vec<(&'g str, Vec<&'g str>)> {
        let before = now - ACQUAINTED_DAYS * DAY;
        let by_position: Vec<Id> = members.iter().copied().collect();
        let mut found: Vec<(&str, Vec<&str>)> = self
            .introductions(g, members, now, |_, first| first <= before)
            .into_iter()
            .map(|(x, knowing)| {
                let mut names: Vec<&str> = knowing.iter().map(|&i| g.name(by_position[i])).collect();
                names.sort_unstable();
                (g.name(x), names)
            })
            .collect();
        found.sort_unstable_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        found.truncate(limit);
        found
    }

    /// Per introducer (`acquainted_pairs`), the members that knew it by then, by position in the set's order (two
    /// or more): `knew(i, first)` says whether the member at position `i` knew a partner it first tied to at
    /// `first`.
    fn introductions(
        &self,
        g: &Graph,
        members: &IdSet,
        now: f64,
        knew: impl Fn(usize, f64) -> bool,
    ) -> Vec<(Id, Vec<usize>)> {
        // Each introducer's members, by position: a member's pushes come together, so a partner kept in both of
        // its rows is pushed once.
        let mut known_by: FxHashMap<Id, Vec<usize>> = FxHashMap::default();
        for (i, &m) in members.iter().enumerate() {
            for (&x, tie) in g.out_row(m).iter().chain(g.in_row(m).iter()) {
                if knew(i, tie.first) && !members.contains(&x) && !is_widely_tied(g, x) {
                    let knowing = known_by.entry(x).or_default();
                    if knowing.last() != Some(&i) {
                        knowing.push(i);
                    }
                }
            }
        }
        // Ages are looked up by name: only for partners two members share.
        known_by
            .into_iter()
            .filter(|(x, knowing)| knowing.len() >= 2 && !self.is_fresh(g.name(*x), now))
            .collect()
    }

    /// How many of the members are younger than `FRESH_DAYS` (by creation time, else first seen).
    pub fn fresh_members<'a>(&self, members: impl IntoIterator<Item = &'a str>, now: f64) -> usize {
        members
            .into_iter()
            .filter(|m| self.accounts.get(*m).is_some_and(|i| i.age_days(now) < FRESH_DAYS))
            .count()
    }

    /// Event ids of the members' latest boosts to other members, members in name order.
    pub fn sample_ids(&self, members: &FxHashSet<&str>) -> Vec<&str> {
        let mut sorted: Vec<&str> = members.iter().copied().collect();
        sorted.sort_unstable();
        let mut ids = Vec::new();
        for m in sorted {
            if let Some(info) = self.accounts.get(m) {
                let inside = info.recent_ids.iter().filter(|(t, _)| members.contains(&**t));
                ids.extend(inside.map(|(_, id)| &**id));
            }
        }
        ids
    }

    // ------------------------------------------------------------------ scores and cases
    /// Raise the accounts' best candidate scores to `score`.
    pub fn raise_best(&mut self, account: &str, score: f64) {
        match self.accounts.get_mut(account) {
            Some(info) => info.best_score = info.best_score.max(score),
            None => {
                let kept = self.forgotten_scores.entry(account.into()).or_insert(0.0);
                *kept = kept.max(score);
            }
        }
    }

    /// When the account was first seen, its profile as its latest event carried it, and its latest return after a
    /// dormancy (when, days idle before); None when not in memory.
    pub fn account_facts(&self, account: &str) -> Option<(f64, Profile, Option<Return>)> {
        self.accounts
            .get(account)
            .map(|i| (i.first_seen, i.profile, i.returned))
    }

    pub fn best_score(&self, account: &str) -> f64 {
        let live = self.accounts.get(account).map_or(0.0, |i| i.best_score);
        live.max(self.forgotten_scores.get(account).copied().unwrap_or(0.0))
    }

    /// The account is part of a flagged case: it is kept for good.
    pub fn pin(&mut self, account: &str) {
        if let Some(info) = self.accounts.get_mut(account) {
            info.flagged = true;
        }
    }

    pub fn holds(&self, account: &str) -> bool {
        self.accounts.contains_key(account)
    }

    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    // ------------------------------------------------------------------ snapshots
    /// Everything but the configuration, as bytes; [`State::restore`] continues exactly where this left off.
    pub fn state(&self) -> Vec<u8> {
        let mut w = Writer::new(STATE_FORMAT);
        w.f64(self.watermark);
        w.f64(self.last_sweep);
        let c = &self.counters;
        for n in [
            c.events,
            c.duplicates,
            c.late,
            c.ring_evaluations,
            c.growth_evaluations,
            c.evicted_accounts,
        ] {
            w.u64(n);
        }
        w.u64(self.accounts.len() as u64);
        for (name, info) in &self.accounts {
            w.str(name);
            write_account(&mut w, info);
        }
        for forgotten in [&self.forgotten_scores, &self.forgotten_last_acted] {
            w.u64(forgotten.len() as u64);
            for (name, value) in forgotten {
                w.str(name);
                w.f64(*value);
            }
        }
        w.u64(self.seen_order.len() as u64);
        for (id, ts) in &self.seen_order {
            w.str(id);
            w.f64(*ts);
        }
        w.u64(self.idle_by_week.len() as u64);
        for (week, accounts) in &self.idle_by_week {
            w.u64(*week as u64);
            w.u64(accounts.len() as u64);
            for account in accounts {
                w.str(account);
            }
        }
        w.buf
    }

    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut r = Reader::new(bytes, "engine", STATE_FORMAT)?;
        let mut s = State::new(self.config);
        s.watermark = r.f64()?;
        s.last_sweep = r.f64()?;
        let c = &mut s.counters;
        for n in [
            &mut c.events,
            &mut c.duplicates,
            &mut c.late,
            &mut c.ring_evaluations,
            &mut c.growth_evaluations,
            &mut c.evicted_accounts,
        ] {
            *n = r.u64()?;
        }
        for _ in 0..r.len()? {
            let name = r.str()?.into();
            s.accounts.insert(name, read_account(&mut r)?);
        }
        for forgotten in [&mut s.forgotten_scores, &mut s.forgotten_last_acted] {
            for _ in 0..r.len()? {
                let name = r.str()?.into();
                forgotten.insert(name, r.f64()?);
            }
        }
        for _ in 0..r.len()? {
            let id: Arc<str> = r.str()?.into();
            s.seen_ids.insert(id.clone());
            s.seen_order.push_back((id, r.f64()?));
        }
        for _ in 0..r.len()? {
            let week = r.u64()? as i64;
            let accounts = (0..r.len()?)
                .map(|_| r.str().map(Into::into))
                .collect::<Result<_, _>>()?;
            s.idle_by_week.insert(week, accounts);
        }
        r.finish()?;
        *self = s;
        Ok(())
    }
}

fn file_for_sweep(idle_by_week: &mut FxHashMap<i64, Vec<Box<str>>>, account: &str, last_seen: f64) {
    let week = py_floordiv(last_seen, WEEK) as i64;
    idle_by_week.entry(week).or_default().push(account.into());
}

fn batch_bucket(created_ts: f64) -> i64 {
    py_floordiv(created_ts, BATCH_SECONDS) as i64
}

/// Python's float floor division (`a // b`), which is not always `(a / b).floor()`: the quotient's rounding can
/// reach the next integer. The same buckets as the Python engine gave, to the last bit.
fn py_floordiv(a: f64, b: f64) -> f64 {
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && (b < 0.0) != (m < 0.0) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0.0f64.copysign(a / b);
    }
    let floor = div.floor();
    if div - floor > 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// Whether `actor` first boosted `target` recently (`rings::is_new`).
fn new_tie(g: &Graph, actor: Id, target: Id, now: f64) -> bool {
    g.out_row(actor).get(&target).is_some_and(|tie| is_new(tie, now))
}

fn write_checked(w: &mut Writer, checked: Option<Checked>) {
    w.bool(checked.is_some());
    if let Some(c) = checked {
        w.u64(c.ties as u64);
        w.f64(c.at);
        w.bool(c.promising);
        w.u64(c.size as u64);
    }
}

fn read_checked(r: &mut Reader) -> Result<Option<Checked>, String> {
    Ok(if r.bool()? {
        Some(Checked {
            ties: r.u64()? as usize,
            at: r.f64()?,
            promising: r.bool()?,
            size: r.u64()? as usize,
        })
    } else {
        None
    })
}

fn write_account(w: &mut Writer, info: &Account) {
    w.f64(info.first_seen);
    w.f64(info.last_seen);
    w.opt_f64(info.last_acted);
    w.bool(info.returned.is_some());
    if let Some((at, idle_days)) = info.returned {
        w.f64(at);
        w.f64(idle_days);
    }
    let p = &info.profile;
    w.opt_f64(p.created_ts);
    for count in [p.followers, p.following, p.posts] {
        w.opt_i64(count);
    }
    w.f64(info.best_score);
    w.bool(info.flagged);
    write_checked(w, info.checked);
    write_checked(w, info.checked_new_ties);
    w.opt_f64(info.cohort_searched);
    w.u64(info.growth_next as u64);
    w.bool(info.ledger.is_some());
    if let Some(ledger) = &info.ledger {
        w.f64(ledger.decayed);
        w.opt_f64(ledger.decayed_at);
        w.opt_f64(ledger.started);
        w.u64(ledger.recent.len() as u64);
        for (ts, booster, id) in &ledger.recent {
            w.f64(*ts);
            w.str(booster);
            w.opt_str(id.as_deref());
        }
    }
    w.u64(info.recent_ids.len() as u64);
    for (target, id) in &info.recent_ids {
        w.str(target);
        w.str(id);
    }
}

fn read_account(r: &mut Reader) -> Result<Account, String> {
    let mut info = Account::new(r.f64()?);
    info.last_seen = r.f64()?;
    info.last_acted = r.opt_f64()?;
    if r.bool()? {
        info.returned = Some((r.f64()?, r.f64()?));
    }
    info.profile = Profile {
        created_ts: r.opt_f64()?,
        followers: r.opt_i64()?,
        following: r.opt_i64()?,
        posts: r.opt_i64()?,
    };
    info.best_score = r.f64()?;
    info.flagged = r.bool()?;
    info.checked = read_checked(r)?;
    info.checked_new_ties = read_checked(r)?;
    info.cohort_searched = r.opt_f64()?;
    info.growth_next = r.u64()? as usize;
    if r.bool()? {
        let mut ledger = Ledger {
            decayed: r.f64()?,
            decayed_at: r.opt_f64()?,
            started: r.opt_f64()?,
            ..Default::default()
        };
        for _ in 0..r.len()? {
            let (ts, booster, id) = (r.f64()?, r.str()?.into(), r.opt_str()?.map(Into::into));
            ledger.recent.push_back((ts, booster, id));
        }
        info.ledger = Some(Box::new(ledger));
    }
    for _ in 0..r.len()? {
        info.recent_ids.push_back((r.str()?.into(), r.str()?.into()));
    }
    Ok(info)
}
