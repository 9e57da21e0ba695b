//! A bounded, time-windowed view of who boosted whom recently (the engine's `RecentBoostGraph`).
//!
//! Only the most recent `max_partners` partners per account and direction are kept, and edges older than the
//! window are ignored on read, so memory stays bounded however long the stream runs.
//!
//! Each account's partners are kept in the order they were last boosted (a boost moves its edge to the end), so
//! reading only the recent ones can walk back from the end and stop early: events arrive in event-time order up to
//! a bounded lateness, which the graph measures itself (`lag`), so an edge older than `since - lag` proves that
//! every edge before it is older than `since` too.
//!
//! Accounts are numbered internally (ids are never shown to Python); a number is reused once nothing refers to the
//! account any more, so the name table stays as bounded as the edges.

use std::sync::Arc;

use indexmap::IndexMap;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use crate::codec::{Reader, Writer};

pub type Id = u32;
/// An account's partners in one direction, least recently boosted first.
pub type Row = IndexMap<Id, Tie, FxBuildHasher>;

/// One direction of a tie: when it was boosted last, and first (while the engine kept it: a tie evicted or
/// forgotten starts again).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tie {
    pub last: f64,
    pub first: f64,
}
pub type IdSet = FxHashSet<Id>;

#[derive(Default)]
pub struct Graph {
    pub window: f64,
    pub max_partners: usize,
    /// The latest boost time added.
    pub latest: f64,
    /// How far behind `latest` a boost has been added at most.
    pub lag: f64,
    /// The ties kept by the account at a quantile of all accounts holding any (`refresh_tie_quantile`): how many
    /// ties make an account stand out on this platform.
    pub tie_quantile: usize,
    /// Each account's name, shared with `ids` (one allocation per name); empty for a free number.
    names: Vec<Arc<str>>,
    ids: FxHashMap<Arc<str>, Id>,
    /// Numbers of forgotten accounts, to reuse.
    free: Vec<Id>,
    /// Per account, how many rows (of other accounts) hold it: it can be forgotten only at zero.
    refs: Vec<u32>,
    out: Vec<Row>,
    inn: Vec<Row>,
}

impl Graph {
    pub fn new(window: f64, max_partners: usize) -> Self {
        Graph {
            window,
            max_partners,
            latest: f64::NEG_INFINITY,
            lag: 0.0,
            ..Default::default()
        }
    }

    pub fn id(&self, name: &str) -> Option<Id> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: Id) -> &str {
        &self.names[id as usize]
    }

    /// How many account numbers are in use or free: every number is below it.
    pub fn numbers(&self) -> usize {
        self.names.len()
    }

    fn intern(&mut self, name: &str) -> Id {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let name: Arc<str> = name.into();
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = name.clone();
                id
            }
            None => {
                self.names.push(name.clone());
                self.refs.push(0);
                self.out.push(Row::default());
                self.inn.push(Row::default());
                (self.names.len() - 1) as Id
            }
        };
        self.ids.insert(name, id);
        id
    }

    /// The account's recent-boost targets (every one kept, recent or not).
    pub fn out_row(&self, id: Id) -> &Row {
        &self.out[id as usize]
    }

    /// The account's recent boosters (every one kept, recent or not).
    pub fn in_row(&self, id: Id) -> &Row {
        &self.inn[id as usize]
    }

    /// Record a boost; true when the actor had not boosted the target within the window before it, with the
    /// numbers of the actor and the target.
    pub fn add(&mut self, actor: &str, target: &str, ts: f64) -> (bool, Id, Id) {
        if ts > self.latest {
            self.latest = ts;
        } else if self.latest - ts > self.lag {
            self.lag = self.latest - ts;
        }
        let a = self.intern(actor);
        let b = self.intern(target);
        let previous = self.touch(true, a, b, ts);
        self.touch(false, b, a, ts);
        (previous.is_none_or(|previous| ts - previous.last > self.window), a, b)
    }

    /// Move the edge to the most recent end with time `ts`; return its previous tie, if it had one.
    fn touch(&mut self, outgoing: bool, key: Id, partner: Id, ts: f64) -> Option<Tie> {
        let row = if outgoing {
            &mut self.out[key as usize]
        } else {
            &mut self.inn[key as usize]
        };
        let previous = row.shift_remove(&partner);
        // Out-of-order events must not move an edge's latest time backwards, nor its first time forwards.
        let tie = previous.map_or(Tie { last: ts, first: ts }, |p| Tie {
            last: if ts > p.last { ts } else { p.last },
            first: if ts < p.first { ts } else { p.first },
        });
        row.insert(partner, tie);
        let evicted = if row.len() > self.max_partners {
            row.shift_remove_index(0).map(|(id, _)| id)
        } else {
            None
        };
        if previous.is_none() {
            self.refs[partner as usize] += 1;
        }
        if let Some(evicted) = evicted {
            self.release(evicted);
        }
        previous
    }

    /// An unfollow (or a negative rating) withdraws the boost.
    pub fn remove(&mut self, actor: &str, target: &str) {
        let (Some(a), Some(b)) = (self.id(actor), self.id(target)) else {
            return;
        };
        if self.out[a as usize].shift_remove(&b).is_some() {
            self.release(b);
        }
        if self.inn[b as usize].shift_remove(&a).is_some() {
            self.release(a);
        }
        self.free_if_unused(a);
        self.free_if_unused(b);
    }

    pub fn forget(&mut self, account: &str) {
        let Some(id) = self.id(account) else { return };
        let outs = std::mem::take(&mut self.out[id as usize]);
        let ins = std::mem::take(&mut self.inn[id as usize]);
        for &other in outs.keys() {
            if self.inn[other as usize].shift_remove(&id).is_some() {
                self.release(id);
            }
            self.release(other);
        }
        for &other in ins.keys() {
            if self.out[other as usize].shift_remove(&id).is_some() {
                self.release(id);
            }
            self.release(other);
        }
        self.free_if_unused(id);
    }

    /// One row entry naming `id` is gone.
    fn release(&mut self, id: Id) {
        self.refs[id as usize] -= 1;
        self.free_if_unused(id);
    }

    fn free_if_unused(&mut self, id: Id) {
        let i = id as usize;
        // The name table, not the name, says whether the number is in use: an empty name is a name too.
        let live = self.ids.get(&self.names[i]) == Some(&id);
        if live && self.refs[i] == 0 && self.out[i].is_empty() && self.inn[i].is_empty() {
            self.ids.remove(&self.names[i]);
            self.names[i] = Arc::from("");
            self.free.push(id);
        }
    }

    pub fn boosted(&self, actor: Id, target: Id, now: f64) -> bool {
        self.out[actor as usize]
            .get(&target)
            .is_some_and(|tie| now - tie.last <= self.window)
    }

    /// The partners kept for the account, both directions, recent or not.
    pub fn ties(&self, id: Id) -> usize {
        self.out_row(id).len() + self.in_row(id).len()
    }

    /// Set `tie_quantile` to the ties kept at `quantile` (0..1) of the accounts holding any.
    pub fn refresh_tie_quantile(&mut self, quantile: f64) {
        let mut ties: Vec<usize> = (0..self.out.len())
            .map(|i| self.out[i].len() + self.inn[i].len())
            .filter(|&n| n > 0)
            .collect();
        self.tie_quantile = if ties.is_empty() {
            0
        } else {
            let at = ((quantile * ties.len() as f64) as usize).min(ties.len() - 1);
            *ties.select_nth_unstable(at).1
        };
    }

    /// Whether some account kept as a booster of `a` is kept as a booster of `b` too.
    pub fn shares_booster(&self, a: Id, b: Id) -> bool {
        shares_key(self.in_row(a), self.in_row(b))
    }

    /// Whether the actor boosts someone kept as a booster of the target (a boost actor -> target closes a triangle).
    pub fn closes_triangle(&self, actor: Id, target: Id) -> bool {
        shares_key(self.out_row(actor), self.in_row(target))
    }

    /// The partners in `row` boosted at or after `since`, in the row's order.
    pub fn recent(&self, row: &Row, since: f64) -> Vec<Id> {
        let mut found: Vec<Id> = self.recent_rev(row, since).collect();
        found.reverse();
        found
    }

    /// The partners in `row` boosted at or after `since`, most recent first, without collecting them (for counts
    /// and sets, where a search would otherwise allocate a list per account it reads).
    pub fn recent_rev<'r>(&self, row: &'r Row, since: f64) -> impl Iterator<Item = Id> + 'r {
        // Every edge before the first one older than `since - lag` is older than `since` (see the module doc).
        let stop = since - self.lag;
        row.iter()
            .rev()
            .take_while(move |(_, tie)| tie.last >= stop)
            .filter(move |(_, tie)| tie.last >= since)
            .map(|(&partner, _)| partner)
    }

    /// Whether [`Graph::recent`] would find anything, without collecting it.
    pub fn any_recent(&self, row: &Row, since: f64) -> bool {
        self.recent_rev(row, since).next().is_some()
    }

    /// The partners in `row` boosted at or after `since` that are in `among`.
    pub fn recent_among(&self, row: &Row, since: f64, among: &IdSet) -> IdSet {
        among
            .iter()
            .copied()
            .filter(|m| row.get(m).is_some_and(|tie| tie.last >= since))
            .collect()
    }

    /// Every edge between members within the window, sorted by actor then target name.
    pub fn edges_within(&self, members: &IdSet, now: f64) -> Vec<(Id, Id, Tie)> {
        let horizon = now - self.window;
        let mut edges: Vec<(Id, Id, Tie)> = Vec::new();
        for &a in members {
            for (&b, &tie) in &self.out[a as usize] {
                if members.contains(&b) && tie.last >= horizon {
                    edges.push((a, b, tie));
                }
            }
        }
        edges.sort_by(|x, y| (self.name(x.0), self.name(x.1)).cmp(&(self.name(y.0), self.name(y.1))));
        edges
    }

    // ---------------------------------------------------------------- snapshots
    /// The whole state as bytes (little-endian); [`Graph::from_state`] rebuilds it exactly, row order included.
    pub fn state(&self) -> Vec<u8> {
        let mut w = Writer::new(STATE_FORMAT);
        w.f64(self.window);
        w.u64(self.max_partners as u64);
        w.f64(self.latest);
        w.f64(self.lag);
        w.u64(self.tie_quantile as u64);
        w.u64(self.names.len() as u64);
        for i in 0..self.names.len() {
            w.str(&self.names[i]);
            w.u64(self.refs[i] as u64);
            for row in [&self.out[i], &self.inn[i]] {
                w.u64(row.len() as u64);
                for (&partner, tie) in row {
                    w.u64(partner as u64);
                    w.f64(tie.last);
                    w.f64(tie.first);
                }
            }
        }
        w.u64(self.free.len() as u64);
        for &id in &self.free {
            w.u64(id as u64);
        }
        w.buf
    }

    pub fn from_state(bytes: &[u8]) -> Result<Graph, String> {
        let mut r = Reader::new(bytes, "graph", STATE_FORMAT)?;
        let mut g = Graph::new(r.f64()?, r.u64()? as usize);
        g.latest = r.f64()?;
        g.lag = r.f64()?;
        g.tie_quantile = r.u64()? as usize;
        for _ in 0..r.len()? {
            let name: Arc<str> = r.str()?.into();
            g.refs.push(r.u64()? as u32);
            let mut rows = [Row::default(), Row::default()];
            for row in &mut rows {
                for _ in 0..r.len()? {
                    let partner = r.u64()? as Id;
                    let (last, first) = (r.f64()?, r.f64()?);
                    row.insert(partner, Tie { last, first });
                }
            }
            let [out, inn] = rows;
            g.out.push(out);
            g.inn.push(inn);
            g.names.push(name);
        }
        for _ in 0..r.len()? {
            g.free.push(r.u64()? as Id);
        }
        let n = g.names.len() as Id;
        let rows = g.out.iter().chain(&g.inn);
        if g.free.iter().any(|&id| id >= n) || rows.flat_map(|row| row.keys()).any(|&id| id >= n) {
            return Err("graph state names an account it does not hold".into());
        }
        let free: IdSet = g.free.iter().copied().collect();
        for (i, name) in g.names.iter().enumerate() {
            if !free.contains(&(i as Id)) {
                g.ids.insert(name.clone(), i as Id);
            }
        }
        r.finish()?;
        Ok(g)
    }
}

const STATE_FORMAT: u8 = 3;

fn shares_key(x: &Row, y: &Row) -> bool {
    let (small, large) = if x.len() <= y.len() { (x, y) } else { (y, x) };
    small.keys().any(|k| large.contains_key(k))
}
