//! `detector.core._native`: the engine's recent-boost graph and ring searches, compiled.
//!
//! Python sees accounts by name; the graph numbers them internally. Everything here is pure and deterministic
//! (no I/O, no clock, no dependence on hash order), like the rest of `detector.core`.

mod graph;
mod rings;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySet, PyString, PyTuple};
use rustc_hash::FxHashMap;

use graph::{Graph, Id, IdSet};
use rings::{Finder, Rules};

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
        self.g.add(actor, target, ts)
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
        self.g
            .id(account)
            .map_or(0, |id| self.g.out_row(id).len() + self.g.in_row(id).len())
    }

    /// The boosters kept for the account, recent or not.
    fn booster_count(&self, account: &str) -> usize {
        self.g.id(account).map_or(0, |id| self.g.in_row(id).len())
    }

    /// Whether some account kept as a booster of ``a`` is kept as a booster of ``b`` too.
    fn shares_booster(&self, a: &str, b: &str) -> bool {
        match (self.g.id(a), self.g.id(b)) {
            (Some(a), Some(b)) => shares_key(self.g.in_row(a), self.g.in_row(b)),
            _ => false,
        }
    }

    /// Whether the actor boosts someone kept as a booster of the target (a boost actor -> target closes a triangle).
    fn closes_triangle(&self, actor: &str, target: &str) -> bool {
        match (self.g.id(actor), self.g.id(target)) {
            (Some(a), Some(b)) => shares_key(self.g.out_row(a), self.g.in_row(b)),
            _ => false,
        }
    }

    /// Every edge between members within the window before ``now``, as (actor, target, ts) sorted by names.
    fn edges_within(&self, members: &Bound<'_, PyAny>, now: f64) -> PyResult<Vec<(String, String, f64)>> {
        let members = ids(&self.g, members)?;
        Ok(self
            .g
            .edges_within(&members, now)
            .into_iter()
            .map(|(a, b, ts)| (self.g.name(a).to_owned(), self.g.name(b).to_owned(), ts))
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

    /// The ring grown from the traded pair (a, b) and peeled, or an empty set.
    fn grow<'py>(&self, py: Python<'py>, a: &str, b: &str, now: f64) -> PyResult<Bound<'py, PySet>> {
        let graph = self.graph.borrow(py);
        let found = pair(&graph.g, a, b).map(|(a, b)| self.finder(&graph.g).grow(a, b, now));
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
            Ok(fresh) => fresh,
            Err(e) => {
                failed.get_or_insert(e);
                false
            }
        };
        let found = pair(g, a, b).map(|(a, b)| self.finder(g).cohort(a, b, now, &mut fresh));
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
            .map(|&m| (m, g.recent(g.in_row(m), now - g.window).len()))
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

fn pair(g: &Graph, a: &str, b: &str) -> Option<(Id, Id)> {
    Some((g.id(a)?, g.id(b)?))
}

fn shares_key(x: &graph::Row, y: &graph::Row) -> bool {
    let (small, large) = if x.len() <= y.len() { (x, y) } else { (y, x) };
    small.keys().any(|k| large.contains_key(k))
}

/// The accounts of a Python collection of names that the graph holds (the others have no edges to search).
fn ids(g: &Graph, names: &Bound<'_, PyAny>) -> PyResult<IdSet> {
    let mut found = IdSet::default();
    for name in names.try_iter()? {
        if let Some(id) = g.id(name?.cast::<PyString>()?.to_str()?) {
            found.insert(id);
        }
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
    m.add("MIN_INFLOW", rings::MIN_INFLOW)?;
    m.add("MIN_TIE_SHARE", rings::MIN_TIE_SHARE)?;
    m.add("MIN_BOOST_SHARE", rings::MIN_BOOST_SHARE)?;
    m.add("MIN_CANDIDATE_CLOSURE", rings::MIN_CANDIDATE_CLOSURE)?;
    m.add("MIN_RING_SIZE", rings::MIN_RING_SIZE)?;
    m.add("COHORT_MIN_CLOSURE", rings::COHORT_MIN_CLOSURE)?;
    m.add("LOCKSTEP_S", rings::LOCKSTEP_S)?;
    Ok(())
}
