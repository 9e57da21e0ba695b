//! `detector.core._native`: the engine's per-event state, recent-boost graph and ring searches, compiled; and the
//! walks of the novelty model's half-space trees (river's trees, `hst.rs`).
//!
//! Python sees accounts by name; the graph numbers them internally. Everything here is pure and deterministic
//! (no I/O, no clock, no dependence on hash order), like the rest of `detector.core`.

mod codec;
mod graph;
mod hst;
mod rings;
mod state;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PySet, PyString, PyTuple};
use rustc_hash::{FxHashMap, FxHashSet};

use graph::{Graph, Id, IdSet};
use rings::{Finder, Rules, Youth};
use state::{Config, Profile, State};

create_exception!(
    _native,
    LateEvent,
    PyValueError,
    "An event older than the watermark minus the allowed lateness; the arguments are how many seconds behind it is \
     and its position in the events given."
);

/// Directed boost edges with the event time of their latest occurrence.
///
/// Parameters
/// ----------
/// window
///     Seconds an edge stays "recent" after its latest boost.
/// max_partners
///     Per account and direction, how many partners are remembered (the least recently active are dropped).
#[pyclass(module = "detector.core._native", name = "RecentBoostGraph")]
struct BoostGraph {
    g: Graph,
}

#[pymethods]
impl BoostGraph {
    #[new]
    #[pyo3(signature = (window = 0.0, max_partners = 256))]
    fn new(window: f64, max_partners: usize) -> Self {
        BoostGraph {
            g: Graph::new(window, max_partners),
        }
    }

    #[getter]
    fn window(&self) -> f64 {
        self.g.window
    }

    #[getter]
    fn max_partners(&self) -> usize {
        self.g.max_partners
    }

    /// How far behind the latest boost a boost has been added at most (seconds).
    #[getter]
    fn lag(&self) -> f64 {
        self.g.lag
    }

    /// Record a boost; True when the actor had not boosted the target within the window before it.
    fn add(&mut self, actor: &str, target: &str, ts: f64) -> bool {
        self.g.add(actor, target, ts).0
    }

    /// An unfollow (or a negative rating) withdraws the boost.
    fn remove(&mut self, actor: &str, target: &str) {
        self.g.remove(actor, target)
    }

    /// Drop the account and every edge to or from it.
    fn forget(&mut self, account: &str) {
        self.g.forget(account)
    }

    /// Whether the graph holds any edge of the account (a forgotten account is not held).
    fn __contains__(&self, account: &str) -> bool {
        self.g.id(account).is_some()
    }

    /// Whether the actor boosted the target within the window before ``now``.
    fn boosted(&self, actor: &str, target: &str, now: f64) -> bool {
        match (self.g.id(actor), self.g.id(target)) {
            (Some(a), Some(b)) => self.g.boosted(a, b, now),
            _ => false,
        }
    }

    /// The accounts the account boosted within the window before ``now``.
    fn out_partners<'py>(&self, py: Python<'py>, account: &str, now: f64) -> PyResult<Bound<'py, PySet>> {
        let found = self
            .g
            .id(account)
            .map(|id| self.g.recent(self.g.out_row(id), now - self.g.window));
        names(py, &self.g, found.unwrap_or_default())
    }

    /// The accounts that boosted the account within the window before ``now``.
    fn in_partners<'py>(&self, py: Python<'py>, account: &str, now: f64) -> PyResult<Bound<'py, PySet>> {
        let found = self
            .g
            .id(account)
            .map(|id| self.g.recent(self.g.in_row(id), now - self.g.window));
        names(py, &self.g, found.unwrap_or_default())
    }

    /// The partners kept for the account, both directions, recent or not.
    fn ties(&self, account: &str) -> usize {
        self.g.id(account).map_or(0, |id| self.g.ties(id))
    }

    /// The boosters kept for the account, recent or not.
    fn booster_count(&self, account: &str) -> usize {
        self.g.id(account).map_or(0, |id| self.g.in_row(id).len())
    }

    /// Whether some account kept as a booster of ``a`` is kept as a booster of ``b`` too.
    fn shares_booster(&self, a: &str, b: &str) -> bool {
        match (self.g.id(a), self.g.id(b)) {
            (Some(a), Some(b)) => self.g.shares_booster(a, b),
            _ => false,
        }
    }

    /// Whether the actor boosts someone kept as a booster of the target (a boost actor -> target closes a triangle).
    fn closes_triangle(&self, actor: &str, target: &str) -> bool {
        match (self.g.id(actor), self.g.id(target)) {
            (Some(a), Some(b)) => self.g.closes_triangle(a, b),
            _ => false,
        }
    }

    /// Every edge between members within the window before ``now``, as (actor, target, latest boost, first boost)
    /// sorted by names.
    fn edges_within(&self, members: &Bound<'_, PyAny>, now: f64) -> PyResult<Vec<(String, String, f64, f64)>> {
        let members = ids(&self.g, members)?;
        Ok(self
            .g
            .edges_within(&members, now)
            .into_iter()
            .map(|(a, b, tie)| {
                (
                    self.g.name(a).to_owned(),
                    self.g.name(b).to_owned(),
                    tie.last,
                    tie.first,
                )
            })
            .collect())
    }

    /// For a sample of an account's new followers: how many boost another follower of the sample (trading), and how
    /// many boost the most shared target other than the account (lockstep), within the window before ``now``.
    fn follower_ties(&self, sample: Vec<String>, account: &str, now: f64) -> (usize, usize) {
        let sample: Vec<Option<Id>> = sample.iter().map(|f| self.g.id(f)).collect();
        rings::follower_ties(&self.g, &sample, self.g.id(account), now)
    }

    fn __getnewargs__(&self) -> (f64, usize) {
        (self.g.window, self.g.max_partners)
    }

    fn __getstate__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.g.state())
    }

    fn __setstate__(&mut self, state: &[u8]) -> PyResult<()> {
        self.g = Graph::from_state(state).map_err(PyValueError::new_err)?;
        Ok(())
    }
}

/// Grows, peels and describes candidate rings on a :class:`RecentBoostGraph` (docs/detection.md).
#[pyclass(module = "detector.core._native")]
struct RingFinder {
    graph: Py<BoostGraph>,
    rules: Rules,
}

#[pymethods]
impl RingFinder {
    #[new]
    #[pyo3(signature = (graph, max_members = 40, min_members = rings::MIN_RING_SIZE))]
    fn new(graph: Py<BoostGraph>, max_members: usize, min_members: usize) -> Self {
        RingFinder {
            graph,
            rules: Rules::new(max_members, min_members),
        }
    }

    #[getter]
    fn max_members(&self) -> usize {
        self.rules.max_members
    }

    #[getter]
    fn min_members(&self) -> usize {
        self.rules.min_members
    }

    /// Hubs boosted by more accounts than any ring could supply are never members.
    fn could_be_member(&self, py: Python<'_>, account: &str) -> bool {
        let graph = self.graph.borrow(py);
        graph
            .g
            .id(account)
            .is_none_or(|id| self.finder(&graph.g).could_be_member(id))
    }

    /// The ring grown from the traded pair (a, b) and peeled, or an empty set; ``dense``: with the dense path's
    /// looser first steps.
    #[pyo3(signature = (a, b, now, dense = false))]
    fn grow<'py>(&self, py: Python<'py>, a: &str, b: &str, now: f64, dense: bool) -> PyResult<Bound<'py, PySet>> {
        let graph = self.graph.borrow(py);
        let found = pair(&graph.g, a, b).map(|(a, b)| self.finder(&graph.g).grow(a, b, now, dense));
        names(py, &graph.g, found.unwrap_or_default())
    }

    /// The fresh cohort around the pair: ``is_fresh(account)`` says which accounts are young.
    fn cohort<'py>(
        &self,
        py: Python<'py>,
        a: &str,
        b: &str,
        now: f64,
        is_fresh: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PySet>> {
        let graph = self.graph.borrow(py);
        let g = &graph.g;
        let mut failed: Option<PyErr> = None;
        let mut fresh = |id: Id| match is_fresh.call1((g.name(id),)).and_then(|v| v.is_truthy()) {
            Ok(true) => Youth::Fresh,
            Ok(false) => Youth::Old,
            Err(e) => {
                failed.get_or_insert(e);
                Youth::Old
            }
        };
        let found = pair(g, a, b).map(|(a, b)| self.finder(g).cohort(a, b, now, &mut fresh, &|_| None));
        if let Some(e) = failed {
            return Err(e);
        }
        names(py, g, found.unwrap_or_default())
    }

    /// The group trading in the session that the boost a -> b completes, or an empty set.
    fn lockstep<'py>(&self, py: Python<'py>, a: &str, b: &str, now: f64) -> PyResult<Bound<'py, PySet>> {
        let graph = self.graph.borrow(py);
        let found = pair(&graph.g, a, b).map(|(a, b)| self.finder(&graph.g).lockstep(a, b, now));
        names(py, &graph.g, found.unwrap_or_default())
    }

    /// The members of ``group`` left after the peel (the last step of :meth:`grow`).
    fn peel<'py>(&self, py: Python<'py>, group: &Bound<'py, PyAny>, now: f64) -> PyResult<Bound<'py, PySet>> {
        let graph = self.graph.borrow(py);
        let g = &graph.g;
        let group = ids(g, group)?;
        let boosters: FxHashMap<Id, usize> = group
            .iter()
            .map(|&m| (m, g.recent_rev(g.in_row(m), now - g.window).count()))
            .collect();
        names(py, g, self.finder(g).peel(group, &boosters, now))
    }

    /// The counts and sums behind a group's features, in this order: size, member pairs tied (ordered), mutual
    /// (ordered), boosts inside, boosts inside in the last session, summed inflow share, members boosted at all,
    /// summed outflow share, partners outside (summed over members).
    fn describe<'py>(&self, py: Python<'py>, members: &Bound<'py, PyAny>, now: f64) -> PyResult<Bound<'py, PyTuple>> {
        let graph = self.graph.borrow(py);
        let s = self.finder(&graph.g).describe(&ids(&graph.g, members)?, now);
        (
            s.size,
            s.tied,
            s.mutual,
            s.edges,
            s.in_session,
            s.inflow,
            s.boosted_members,
            s.outflow,
            s.outside,
        )
            .into_pyobject(py)
    }

    fn __getnewargs__(&self, py: Python<'_>) -> (Py<BoostGraph>, usize, usize) {
        (self.graph.clone_ref(py), self.rules.max_members, self.rules.min_members)
    }
}

impl RingFinder {
    fn finder<'g>(&'g self, graph: &'g Graph) -> Finder<'g> {
        Finder {
            graph,
            rules: &self.rules,
        }
    }
}

/// The engine's per-account state, and the per-event rules that decide what to score (docs/detection.md).
///
/// Holds the accounts (first and last seen, latest profile, best candidate score), the event ids seen lately,
/// each boosted account's follower ledger, each actor's latest event ids, and when each account was last searched
/// from; updates them and the :class:`RecentBoostGraph` per event, and runs the ring searches the event triggers.
#[pyclass(module = "detector.core._native")]
struct EngineState {
    graph: Py<BoostGraph>,
    finder: Py<RingFinder>,
    s: State,
}

#[pymethods]
impl EngineState {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (
        graph, finder, growth_window, half_life, min_burst, allowed_lateness, dedup_horizon, dedup_max_ids,
        idle_eviction, keep_forgotten_scores
    ))]
    fn new(
        graph: Py<BoostGraph>,
        finder: Py<RingFinder>,
        growth_window: f64,
        half_life: f64,
        min_burst: usize,
        allowed_lateness: f64,
        dedup_horizon: f64,
        dedup_max_ids: usize,
        idle_eviction: f64,
        keep_forgotten_scores: bool,
    ) -> Self {
        let config = Config {
            growth_window,
            half_life,
            min_burst,
            allowed_lateness,
            dedup_horizon,
            dedup_max_ids,
            idle_eviction,
            keep_forgotten_scores,
        };
        EngineState {
            graph,
            finder,
            s: State::new(config),
        }
    }

    /// Update the state with ``events[start:]`` (``Event`` objects), in order, up to the first event that has
    /// something to score: return ``(position, (growth, members, path))`` for it, or None when every event was
    /// processed. ``growth`` is whether the target's follower growth is due for scoring; ``members`` the candidate
    /// ring (a set, or None) with ``path``, the search that found it: ``"grown"`` from a traded pair, ``"dense"``
    /// the same with the dense path's looser first steps, ``"local"`` a small neighbourhood peeled whole,
    /// ``"new_ties"`` the dense path's growth from a pair trading for the first time, its ties mostly new,
    /// ``"young"`` a fresh cohort or a lockstep session (``engine.RING_SEARCHES`` names their weights). A
    /// duplicate ``id`` has nothing to score. Raises :class:`LateEvent` (how many seconds behind the watermark,
    /// position) for a late event, the events before it processed. One call per event would cost more than most
    /// events' own work.
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        events: &Bound<'py, PyList>,
        start: usize,
    ) -> PyResult<Option<(usize, Bound<'py, PyTuple>)>> {
        let mut graph = self.graph.borrow_mut(py);
        let finder = self.finder.borrow(py);
        for position in start..events.len() {
            let event = events.get_item(position)?;
            let ts: f64 = event.getattr(intern!(py, "ts"))?.extract()?;
            // The contract's rule, read from the event, not repeated here.
            let boost: bool = event.getattr(intern!(py, "is_boost"))?.extract()?;
            let actor = event.getattr(intern!(py, "actor"))?.cast_into::<PyString>()?;
            let target = event.getattr(intern!(py, "target"))?.cast_into::<PyString>()?;
            let event_id = event.getattr(intern!(py, "id"))?;
            let event_id = if event_id.is_none() {
                None
            } else {
                Some(event_id.cast_into::<PyString>()?)
            };
            let profile = event.getattr(intern!(py, "actor_profile"))?;
            let profile = if profile.is_none() {
                None
            } else {
                Some(read_profile(&profile)?)
            };
            let outcome = self
                .s
                .process(
                    &mut graph.g,
                    &finder.rules,
                    ts,
                    boost,
                    actor.to_str()?,
                    target.to_str()?,
                    event_id.as_ref().map(|id| id.to_str()).transpose()?,
                    profile,
                )
                .map_err(|lag| LateEvent::new_err((lag, position)))?;
            let Some(outcome) = outcome else { continue };
            let (members, path) = match outcome.ring {
                Some((members, path)) => (Some(names(py, &graph.g, members)?), Some(path.name())),
                None => (None, None),
            };
            return Ok(Some((position, (outcome.growth, members, path).into_pyobject(py)?)));
        }
        Ok(None)
    }

    /// The account's follower-growth features now, in ``GrowthFeatures``' field order (None without new boosters).
    fn growth(&mut self, py: Python<'_>, account: &str, now: f64) -> Option<state::Growth> {
        self.s.growth(&self.graph.borrow(py).g, account, now)
    }

    /// The account's new boosters in the growth window, oldest first, as (time, booster, event id or None).
    fn burst_window(&self, account: &str) -> Vec<(f64, String, Option<String>)> {
        let window = self.s.burst_window(account);
        window
            .into_iter()
            .map(|(ts, f, id)| (ts, f.to_owned(), id.map(str::to_owned)))
            .collect()
    }

    /// Of the established accounts (30 days or older) outside the group that recently boosted a member: how many,
    /// and how many boosted two or more members.
    fn established_boosters(&self, py: Python<'_>, members: &Bound<'_, PyAny>, now: f64) -> PyResult<(usize, usize)> {
        let graph = self.graph.borrow(py);
        Ok(self.s.established_boosters(&graph.g, &ids(&graph.g, members)?, now))
    }

    /// How many unordered pairs of members share an established partner outside the group, with few ties, from a
    /// week or more before.
    fn acquainted_pairs(&self, py: Python<'_>, members: &Bound<'_, PyAny>, now: f64) -> PyResult<usize> {
        let graph = self.graph.borrow(py);
        Ok(self.s.acquainted_pairs(&graph.g, &ids(&graph.g, members)?, now))
    }

    /// The established partners outside the group that two or more members knew a week or more before, each with
    /// the members that knew it, the most widely known first: at most `limit` of them.
    fn introducers(
        &self,
        py: Python<'_>,
        members: &Bound<'_, PyAny>,
        now: f64,
        limit: usize,
    ) -> PyResult<Vec<(String, Vec<String>)>> {
        let graph = self.graph.borrow(py);
        let found = self.s.introducers(&graph.g, &ids(&graph.g, members)?, now, limit);
        Ok(found
            .into_iter()
            .map(|(x, knowing)| (x.to_owned(), knowing.into_iter().map(str::to_owned).collect()))
            .collect())
    }

    /// How many of the members are younger than 30 days (by creation time, else first seen).
    fn fresh_members(&self, members: &Bound<'_, PyAny>, now: f64) -> PyResult<usize> {
        let members = strs(members)?;
        let members: Vec<&str> = members.iter().map(|m| m.to_str()).collect::<PyResult<_>>()?;
        Ok(self.s.fresh_members(members, now))
    }

    /// Event ids of the members' latest boosts to other members, members in name order.
    fn sample_ids(&self, members: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        let members = strs(members)?;
        let members: FxHashSet<&str> = members.iter().map(|m| m.to_str()).collect::<PyResult<_>>()?;
        Ok(self.s.sample_ids(&members).into_iter().map(str::to_owned).collect())
    }

    /// Raise each account's best candidate score to ``score``.
    fn raise_best(&mut self, accounts: &Bound<'_, PyAny>, score: f64) -> PyResult<()> {
        for account in strs(accounts)? {
            self.s.raise_best(account.to_str()?, score);
        }
        Ok(())
    }

    /// When the account was first seen, its profile (created_ts, followers, following, posts) as its latest event
    /// carried it, and its latest return from a dormancy (when, days idle before) or None; None for an account not
    /// in memory.
    #[allow(clippy::type_complexity)]
    fn account_facts(
        &self,
        account: &str,
    ) -> Option<(
        f64,
        Option<f64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<(f64, f64)>,
    )> {
        self.s
            .account_facts(account)
            .map(|(seen, p, back)| (seen, p.created_ts, p.followers, p.following, p.posts, back))
    }

    /// The highest score of any candidate the account was in (0 when none).
    fn best_score(&self, account: &str) -> f64 {
        self.s.best_score(account)
    }

    /// The account is part of a flagged case: never forgotten.
    fn pin(&mut self, account: &str) {
        self.s.pin(account)
    }

    /// Whether the account is remembered (seen, and not forgotten as idle).
    fn __contains__(&self, account: &str) -> bool {
        self.s.holds(account)
    }

    /// Accounts remembered.
    fn __len__(&self) -> usize {
        self.s.account_count()
    }

    /// The latest event time processed.
    #[getter]
    fn watermark(&self) -> f64 {
        self.s.watermark
    }

    /// Events processed, duplicates, late events, candidate rings and growth evaluations, accounts forgotten.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.s.counters;
        let counts = PyDict::new(py);
        counts.set_item("events", c.events)?;
        counts.set_item("duplicates", c.duplicates)?;
        counts.set_item("late", c.late)?;
        counts.set_item("ring_evaluations", c.ring_evaluations)?;
        counts.set_item("growth_evaluations", c.growth_evaluations)?;
        counts.set_item("evicted_accounts", c.evicted_accounts)?;
        Ok(counts)
    }

    #[allow(clippy::type_complexity)]
    fn __getnewargs__(
        &self,
        py: Python<'_>,
    ) -> (
        Py<BoostGraph>,
        Py<RingFinder>,
        f64,
        f64,
        usize,
        f64,
        f64,
        usize,
        f64,
        bool,
    ) {
        let c = &self.s.config;
        (
            self.graph.clone_ref(py),
            self.finder.clone_ref(py),
            c.growth_window,
            c.half_life,
            c.min_burst,
            c.allowed_lateness,
            c.dedup_horizon,
            c.dedup_max_ids,
            c.idle_eviction,
            c.keep_forgotten_scores,
        )
    }

    fn __getstate__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.s.state())
    }

    fn __setstate__(&mut self, state: &[u8]) -> PyResult<()> {
        self.s.restore(state).map_err(PyValueError::new_err)
    }
}

/// River's half-space trees behind its min-max scaler, learning and scoring exactly as
/// ``compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees(...))`` does, on trees river built.
///
/// Parameters
/// ----------
/// features
///     How many features an observation has; observations are lists of values in one fixed order, ``None`` for a
///     missing one.
/// height, window_size
///     As river's ``HalfSpaceTrees``.
/// trees
///     Per tree, its ``2**height - 1`` branches in heap order (children of ``i`` at ``2i+1`` and ``2i+2``) as
///     (feature index, threshold): river's ``make_padded_tree``, flattened (``models/anomaly.py``).
#[pyclass(module = "detector.core._native")]
pub struct HalfSpaceForest {
    f: hst::Forest,
}

#[pymethods]
impl HalfSpaceForest {
    #[new]
    fn new(features: usize, height: usize, window_size: u64, trees: Vec<Vec<(usize, f64)>>) -> PyResult<Self> {
        let f = hst::Forest::new(features, height, window_size, trees).map_err(PyValueError::new_err)?;
        Ok(HalfSpaceForest { f })
    }

    /// Learn one observation: the scaler's limits, then each tree's masses along its path.
    fn learn_one(&mut self, x: Vec<Option<f64>>) -> PyResult<()> {
        self.f.learn_one(&self.checked(x)?);
        Ok(())
    }

    /// River's anomaly score in [0, 1] (0 until the first window is full), learning nothing.
    fn score_one(&self, x: Vec<Option<f64>>) -> PyResult<f64> {
        Ok(self.f.score_one(&self.checked(x)?))
    }

    #[staticmethod]
    fn from_state(state: &[u8]) -> PyResult<Self> {
        let f = hst::Forest::from_state(state).map_err(PyValueError::new_err)?;
        Ok(HalfSpaceForest { f })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let py = slf.py();
        let state = PyBytes::new(py, &slf.borrow().f.state());
        Ok((slf.get_type().getattr(intern!(py, "from_state"))?, (state,)))
    }
}

impl HalfSpaceForest {
    fn checked(&self, x: Vec<Option<f64>>) -> PyResult<Vec<Option<f64>>> {
        if x.len() != self.f.features() {
            return Err(PyValueError::new_err(format!(
                "{} values for a forest over {} features",
                x.len(),
                self.f.features()
            )));
        }
        Ok(x)
    }
}

fn read_profile(profile: &Bound<'_, PyAny>) -> PyResult<Profile> {
    let py = profile.py();
    Ok(Profile {
        created_ts: profile.getattr(intern!(py, "created_ts"))?.extract()?,
        followers: profile.getattr(intern!(py, "followers"))?.extract()?,
        following: profile.getattr(intern!(py, "following"))?.extract()?,
        posts: profile.getattr(intern!(py, "posts"))?.extract()?,
    })
}

/// The strings of a Python collection (a TypeError for anything else in it).
fn strs<'py>(items: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyString>>> {
    items
        .try_iter()?
        .map(|item| Ok(item?.cast_into::<PyString>()?))
        .collect()
}

fn pair(g: &Graph, a: &str, b: &str) -> Option<(Id, Id)> {
    Some((g.id(a)?, g.id(b)?))
}

/// The accounts of a Python collection of names that the graph holds (the others have no edges to search).
fn ids(g: &Graph, names: &Bound<'_, PyAny>) -> PyResult<IdSet> {
    let mut found = IdSet::default();
    for name in strs(names)? {
        found.extend(g.id(name.to_str()?));
    }
    Ok(found)
}

fn names<'py>(py: Python<'py>, g: &Graph, ids: impl IntoIterator<Item = Id>) -> PyResult<Bound<'py, PySet>> {
    PySet::new(py, ids.into_iter().map(|id| g.name(id)))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BoostGraph>()?;
    m.add_class::<RingFinder>()?;
    m.add_class::<EngineState>()?;
    m.add_class::<HalfSpaceForest>()?;
    m.add("LateEvent", m.py().get_type::<LateEvent>())?;
    m.add("DAY", state::DAY)?;
    m.add("FRESH_DAYS", state::FRESH_DAYS)?;
    m.add("BATCH_SECONDS", state::BATCH_SECONDS)?;
    m.add("MIN_INFLOW", rings::MIN_INFLOW)?;
    m.add("MIN_TIE_SHARE", rings::MIN_TIE_SHARE)?;
    m.add("MIN_BOOST_SHARE", rings::MIN_BOOST_SHARE)?;
    m.add("MIN_CANDIDATE_CLOSURE", rings::MIN_CANDIDATE_CLOSURE)?;
    m.add("DENSE_FIRST_CLOSURE", rings::DENSE_FIRST_CLOSURE)?;
    m.add("DENSE_MIN_INFLOW", rings::DENSE_MIN_INFLOW)?;
    m.add("DENSE_INFLOW_MIN_MEMBERS", rings::DENSE_INFLOW_MIN_MEMBERS)?;
    m.add("NEW_TIE_DAYS", rings::NEW_TIE_DAYS)?;
    m.add("NEW_TIES_GROUP_DAYS", state::NEW_TIES_GROUP_DAYS)?;
    m.add("LOCAL_MAX_ACCOUNTS", rings::LOCAL_MAX_ACCOUNTS)?;
    m.add("MIN_RING_SIZE", rings::MIN_RING_SIZE)?;
    m.add("COHORT_MIN_CLOSURE", rings::COHORT_MIN_CLOSURE)?;
    m.add("LOCKSTEP_S", rings::LOCKSTEP_S)?;
    Ok(())
}
