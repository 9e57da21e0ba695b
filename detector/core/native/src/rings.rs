//! Reciprocal-boost rings: the searches for the dense group around a boost, and the sums that describe a group.
//!
//! Why these rules is in docs/detection.md (*Reciprocal-boost rings*). Every search here gives the same group
//! whatever order sets are walked in: rules relative to the group's size are applied to all members at once
//! (`peel_together`), and where one account must be chosen, the account's name breaks ties.

use std::cell::RefCell;

use rustc_hash::FxHashMap;

use crate::graph::{Graph, Id, IdSet, Row, Tie};
use crate::state::DAY;

/// A member must get at least this share of its recent boosts from inside the group.
pub const MIN_INFLOW: f64 = 0.34;
/// A member must be tied (either direction) to at least this share of the other members.
pub const MIN_TIE_SHARE: f64 = 0.3;
/// ... and boost at least this share of them itself.
pub const MIN_BOOST_SHARE: f64 = 0.2;
/// Growth stops when the best candidate has fewer than this share of its ties in the group.
pub const MIN_CANDIDATE_CLOSURE: f64 = 0.1;
/// The dense path's closure while the group is smaller than `DENSE_FIRST_MEMBERS`: an account with many partners
/// has at most 4 ties into a pair, 6 into a triangle, so a ring of busy accounts never passes the first steps.
pub const DENSE_FIRST_CLOSURE: f64 = 0.05;
/// From this many members on, the dense path's growth needs `MIN_CANDIDATE_CLOSURE` like the ordinary one.
pub const DENSE_FIRST_MEMBERS: usize = 4;
/// The dense path's peel asks a member of a group of `DENSE_INFLOW_MIN_MEMBERS` or more for this share of its
/// recent boosters inside instead of `MIN_INFLOW`: a hijacked account on busy traffic keeps its organic fans (one
/// boosted by 30 accounts gets at most 7 of its boosts from a ring of 8, 0.23), so a ring of such accounts passed
/// the growth and was then peeled to nothing. Measured from 0.34 down to 0 (docs/detection.md, *The dense path's
/// peel asks busy members for less*): 0.15 caught slightly more, but flagged the hubs of a reciprocating organic
/// market (`test_an_organic_reciprocating_market_is_not_flagged`).
pub const DENSE_MIN_INFLOW: f64 = 0.2;
/// ... and only while the group has this many members: four of Bitcoin-Alpha's busiest early traders
/// (benign-labelled) rate each other and passed the looser peel, which a training draw's weights then flagged.
pub const DENSE_INFLOW_MIN_MEMBERS: usize = 6;
/// ... where a member may instead get `MIN_INFLOW` of its new boosters (ties first boosted in the last
/// `NEW_TIE_DAYS`) from inside: a busy account taken over keeps fans of months, but the boosters it gains while the
/// ring trades are mostly the ring (docs/detection.md, *New boosters*).
pub const NEW_TIE_DAYS: f64 = 7.0;

/// Whether the tie was first boosted within the last `NEW_TIE_DAYS`.
pub fn is_new(tie: &Tie, now: f64) -> bool {
    tie.first >= now - NEW_TIE_DAYS * DAY
}
/// The local path peels a traded pair's whole neighbourhood when it has at most this many accounts.
pub const LOCAL_MAX_ACCOUNTS: usize = 24;
/// The smallest group scored as a ring (`EngineConfig.min_ring_size`).
pub const MIN_RING_SIZE: usize = 4;
/// A cohort member has at least this share of its partners inside.
pub const COHORT_MIN_CLOSURE: f64 = 0.5;
/// An account with more ties kept than this is widely tied: two accounts that both tied to it need not have met
/// through it. One with more than this and than `POPULAR_QUANTILE` of the accounts is popular too: rings boost
/// popular accounts as camouflage.
pub const POPULAR_TIES: usize = 50;
/// The share of accounts a popular account has more ties than (measured at each weekly sweep): on a small, dense
/// platform, where most established accounts keep more than `POPULAR_TIES`, the few that stand out.
pub const POPULAR_QUANTILE: f64 = 0.95;

/// Whether the account has more ties kept than `POPULAR_TIES`.
pub fn is_widely_tied(graph: &Graph, id: Id) -> bool {
    graph.ties(id) > POPULAR_TIES
}

/// Whether the account is widely tied and has more ties kept than the graph's `tie_quantile`: it stands out on this
/// platform, where a newcomer's established partners may all be widely tied.
pub fn is_popular(graph: &Graph, id: Id) -> bool {
    is_widely_tied(graph, id) && graph.ties(id) > graph.tie_quantile
}
/// A cohort of at least this many members measures a member's share of partners inside without its popular partners
/// (a ring's camouflage targets); a smaller one, where a few organic accounts can look alike, with all of them,
/// except for a fresh member (created within `FRESH_DAYS`), whose boosts of popular accounts are camouflage at any size.
pub const COHORT_UNPOPULAR_MIN_MEMBERS: usize = 6;
/// Boosts within this many seconds of each other count as one session (lockstep).
pub const LOCKSTEP_S: f64 = 3600.0;

/// Per account walked from: its recent boost targets and boosters, as read during the walk.
type Walked = FxHashMap<Id, (Vec<Id>, Vec<Id>)>;

pub struct Rules {
    pub max_members: usize,
    pub min_members: usize,
    /// No member of a group of `max_members` can get `MIN_INFLOW` of its boosts from inside with more boosters.
    pub max_boosters: usize,
}

impl Rules {
    pub fn new(max_members: usize, min_members: usize) -> Self {
        Rules {
            max_members,
            min_members,
            max_boosters: (max_members as f64 / MIN_INFLOW) as usize,
        }
    }
}

/// How young the cohort search takes an account to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Youth {
    Old,
    /// Acting again after a dormancy (docs/detection.md, *Returning cohorts*).
    Returning,
    Fresh,
}

/// The sums `describe` turns into a group's features (fresh members are counted by the caller, who knows ages).
pub struct GroupSums {
    pub size: usize,
    pub tied: usize,
    pub mutual: usize,
    pub edges: usize,
    pub in_session: usize,
    pub inflow: f64,
    pub boosted_members: usize,
    pub outflow: f64,
    pub outside: usize,
}

pub struct Finder<'g> {
    pub graph: &'g Graph,
    pub rules: &'g Rules,
}

impl<'g> Finder<'g> {
    fn outs(&self, id: Id) -> &'g Row {
        self.graph.out_row(id)
    }

    fn ins(&self, id: Id) -> &'g Row {
        self.graph.in_row(id)
    }

    /// Cheap pre-check: hubs boosted by more accounts than any ring could supply are never members.
    pub fn could_be_member(&self, id: Id) -> bool {
        self.ins(id).len() <= self.rules.max_boosters
    }

    /// The account's number of partners, or None for a hub (never a candidate).
    fn degree(&self, id: Id) -> Option<usize> {
        let boosters = self.ins(id).len();
        (boosters <= self.rules.max_boosters).then(|| boosters + self.outs(id).len())
    }

    /// Grow the group around a traded pair: add, best first, the outside account that boosts at least
    /// `max(2, MIN_TIE_SHARE·|group|)` members and is boosted by one, preferring accounts whose ties mostly point
    /// into the group; then peel. `dense`: the first steps (a group under `DENSE_FIRST_MEMBERS`) need only
    /// `DENSE_FIRST_CLOSURE`, and the peel `DENSE_MIN_INFLOW` (the dense path, searched where the ordinary growth
    /// found nothing).
    pub fn grow(&self, a: Id, b: Id, now: f64, dense: bool) -> IdSet {
        let first_closure = if dense {
            DENSE_FIRST_CLOSURE
        } else {
            MIN_CANDIDATE_CLOSURE
        };
        // The dense path is for pairs the ordinary growth cannot start from at all: every account it could add has
        // too many partners. Where it could start, the looser steps mostly repeat it.
        if dense && self.has_first_candidate(a, b, now, MIN_CANDIDATE_CLOSURE) {
            return IdSet::default();
        }
        // Most pairs have no account to grow with, and a pair alone is always peeled away: skip their neighbourhoods.
        if !self.has_first_candidate(a, b, now, first_closure)
            && !self.outs(a).contains_key(&a)
            && !self.outs(b).contains_key(&b)
        {
            return IdSet::default();
        }
        let mut ties = TIES.take();
        ties.reset(self.graph.numbers());
        for member in [a, b] {
            ties.members.add(member, 1);
        }
        // The group's members, each with its number of recent boosters (what the peel needs of them).
        let mut boosters: FxHashMap<Id, usize> = FxHashMap::default();
        for member in [a, b] {
            boosters.insert(member, self.count_ties(member, &mut ties, now));
        }
        while boosters.len() < self.rules.max_members && !ties.eligible.is_empty() {
            let needed = 2usize.max((MIN_TIE_SHARE * boosters.len() as f64).ceil() as usize);
            let mut best: Option<(f64, Id)> = None;
            for (&cand, &degree) in &ties.eligible {
                let n_out = ties.out.get(cand) as usize;
                if n_out < needed {
                    continue;
                }
                let closure = (n_out + ties.inn.get(cand) as usize) as f64 / degree as f64;
                // The name breaks ties deterministically.
                let better = match best {
                    None => true,
                    Some((c, id)) => closure > c || (closure == c && self.graph.name(cand) > self.graph.name(id)),
                };
                if better {
                    best = Some((closure, cand));
                }
            }
            let Some((closure, chosen)) = best else { break };
            let needed_closure = if boosters.len() < DENSE_FIRST_MEMBERS {
                first_closure
            } else {
                MIN_CANDIDATE_CLOSURE
            };
            if closure < needed_closure {
                break;
            }
            ties.members.add(chosen, 1);
            ties.eligible.remove(&chosen);
            let n = self.count_ties(chosen, &mut ties, now);
            boosters.insert(chosen, n);
        }
        TIES.set(ties);
        // The peel only shrinks a group; the dense path's caller needs no account of a group too small to score
        // (the ordinary search's caller backs its members off).
        if dense && boosters.len() < self.rules.min_members {
            return IdSet::default();
        }
        self.peel_with(boosters.keys().copied().collect(), &boosters, now, dense)
    }

    /// A traded pair of accounts with few partners, where growth cannot start (it needs an account boosting two
    /// members, rare while a young ring's boosts are sparse): the pair and all their recent partners, peeled.
    pub fn local(&self, a: Id, b: Id, now: f64) -> IdSet {
        let horizon = now - self.graph.window;
        let mut group: IdSet = [a, b].into_iter().collect();
        for m in [a, b] {
            group.extend(self.graph.recent_rev(self.outs(m), horizon));
            group.extend(self.graph.recent_rev(self.ins(m), horizon));
            if group.len() > LOCAL_MAX_ACCOUNTS {
                return IdSet::default();
            }
        }
        group.retain(|&m| self.could_be_member(m));
        let boosters = group
            .iter()
            .map(|&m| (m, self.graph.recent_rev(self.ins(m), horizon).count()))
            .collect();
        let mut group = self.peel(group, &boosters, now);
        // The neighbourhood holds the popular accounts the pair's partners boost as camouflage; two of them trading
        // with each other pass the peel, but their boosts never lead back into the ring. Drop, all at once, the
        // members whose boosts inside reach fewer than half of the others (directly or through other members),
        // peel again, until stable.
        let boosts: FxHashMap<Id, IdSet> = group
            .iter()
            .map(|&m| (m, self.graph.recent_among(self.outs(m), horizon, &group)))
            .collect();
        loop {
            let stranded: Vec<Id> = group
                .iter()
                .copied()
                .filter(|&m| 2 * reached(m, &boosts, &group) < group.len() - 1)
                .collect();
            if stranded.is_empty() {
                return group;
            }
            for m in stranded {
                group.remove(&m);
            }
            group = self.peel(group, &boosters, now);
        }
    }

    /// Whether `grow` adds anyone to the pair: an outside account recently boosting both, boosted by one of them,
    /// not a hub, and with at least `min_closure` of its ties on the pair (the same rule as in the growth loop).
    fn has_first_candidate(&self, a: Id, b: Id, now: f64, min_closure: f64) -> bool {
        let horizon = now - self.graph.window;
        let (ins_a, ins_b, outs_a, outs_b) = (self.ins(a), self.ins(b), self.outs(a), self.outs(b));
        let (small, large) = if ins_a.len() <= ins_b.len() {
            (ins_a, ins_b)
        } else {
            (ins_b, ins_a)
        };
        for (&cand, tie) in small {
            let Some(other) = large.get(&cand) else {
                continue;
            };
            if cand == a || cand == b || tie.last < horizon || other.last < horizon {
                continue;
            }
            let n_in = outs_a.get(&cand).is_some_and(|t| t.last >= horizon) as usize
                + outs_b.get(&cand).is_some_and(|t| t.last >= horizon) as usize;
            if n_in == 0 {
                continue;
            }
            if let Some(degree) = self.degree(cand) {
                if (2 + n_in) as f64 / degree as f64 >= min_closure {
                    return true;
                }
            }
        }
        false
    }

    /// Count the new member's ties to outside accounts; return how many accounts recently boosted it.
    fn count_ties(&self, member: Id, ties: &mut Ties, now: f64) -> usize {
        let horizon = now - self.graph.window;
        let mut boosters = 0;
        // Eligibility is decided once, when a candidate first boosts two members and is boosted by one.
        for other in self.graph.recent_rev(self.ins(member), horizon) {
            boosters += 1;
            if ties.members.get(other) == 0 && ties.out.add(other, 1) == 2 && ties.inn.get(other) > 0 {
                self.consider(other, ties);
            }
        }
        for other in self.graph.recent_rev(self.outs(member), horizon) {
            if ties.members.get(other) == 0 && ties.inn.add(other, 1) == 1 && ties.out.get(other) >= 2 {
                self.consider(other, ties);
            }
        }
        boosters
    }

    fn consider(&self, account: Id, ties: &mut Ties) {
        if let Some(degree) = self.degree(account) {
            ties.eligible.insert(account, degree);
        }
    }

    /// Drop members that do not trade inside the group (repeat until stable); `boosters` is each member's number of
    /// recent boosters. A ring is not a star; a camouflage target is boosted by many members but boosts few back;
    /// and an organic partner of a hijacked member gets most of its boosts from outside the group.
    pub fn peel(&self, group: IdSet, boosters: &FxHashMap<Id, usize>, now: f64) -> IdSet {
        self.peel_with(group, boosters, now, false)
    }

    /// `peel`; `dense`: the dense path's, where a member of a group of at least `DENSE_INFLOW_MIN_MEMBERS` needs
    /// only `DENSE_MIN_INFLOW` of its recent boosters inside, or `MIN_INFLOW` of its boosters new in the last
    /// `NEW_TIE_DAYS`.
    fn peel_with(&self, group: IdSet, boosters: &FxHashMap<Id, usize>, now: f64, dense: bool) -> IdSet {
        let horizon = now - self.graph.window;
        // Members as bits: who boosts whom inside is read once, and each round counts with popcounts.
        let members: Vec<Id> = group.into_iter().collect();
        let looser_from = if dense { DENSE_INFLOW_MIN_MEMBERS } else { usize::MAX };
        let (boosts, boosted_by, new_boosters) = POSITIONS.with_borrow_mut(|position| {
            position.reset(self.graph.numbers());
            for (i, &m) in members.iter().enumerate() {
                position.add(m, i as u32 + 1);
            }
            let position = &*position;
            let at = move |x: Id| (position.get(x) as usize).checked_sub(1);
            let inside = |row: &'g Row| self.graph.recent_rev(row, horizon).filter_map(at);
            // Each member's boosters whose tie is new, counted and (those inside) as bits; only the dense path
            // asks.
            let new = |m: Id| {
                self.ins(m)
                    .iter()
                    .filter(move |(_, tie)| tie.last >= horizon && is_new(tie, now))
                    .map(|(&x, _)| x)
            };
            let new_boosters = dense.then(|| {
                let counts: Vec<usize> = members.iter().map(|&m| new(m).count()).collect();
                (counts, Bits::rows(&members, |m| new(m).filter_map(at)))
            });
            (
                Bits::rows(&members, |m| inside(self.outs(m))),
                Bits::rows(&members, |m| inside(self.ins(m))),
                new_boosters,
            )
        });
        let mut alive = Bits::full(members.len());
        loop {
            let others = alive.count().saturating_sub(1) as f64;
            let looser = alive.count() >= looser_from;
            let min_inflow = if looser { DENSE_MIN_INFLOW } else { MIN_INFLOW };
            let leaving: Vec<usize> = alive
                .ones()
                .filter(|&i| {
                    let (out, inn) = (boosts.row(i), boosted_by.row(i));
                    let n_boosts = alive.count_and(out);
                    let n_boosted_by = alive.count_and(inn);
                    let n_tied = n_boosts + n_boosted_by - alive.count_and_and(out, inn);
                    let n_boosters = boosters[&members[i]];
                    let enough_inflow = n_boosters == 0 || n_boosted_by as f64 >= min_inflow * n_boosters as f64;
                    let enough_new_inflow = looser
                        && new_boosters.as_ref().is_some_and(|(counts, inside)| {
                            counts[i] > 0 && alive.count_and(inside.row(i)) as f64 >= MIN_INFLOW * counts[i] as f64
                        });
                    (n_tied as f64) < (MIN_TIE_SHARE * others).max(2.0)
                        || (n_boosts as f64) < (MIN_BOOST_SHARE * others).max(1.0)
                        || !(enough_inflow || enough_new_inflow)
                })
                .collect();
            if leaving.is_empty() {
                return alive.ones().map(|i| members[i]).collect();
            }
            for i in leaving {
                alive.clear(i);
            }
        }
    }

    /// Fresh accounts trading among themselves, before any pair answered: grow over recent ties between young
    /// accounts (either direction), then keep those with two ties inside and at least half of their partners inside.
    /// `youth_of` says how young an account is and `returned_at` when one it calls returning came back.
    pub fn cohort(
        &self,
        a: Id,
        b: Id,
        now: f64,
        youth_of: &mut dyn FnMut(Id) -> Youth,
        returned_at: &dyn Fn(Id) -> Option<f64>,
    ) -> IdSet {
        let graph = self.graph;
        let horizon = now - graph.window;
        let mut youth: FxHashMap<Id, Youth> = FxHashMap::default();
        let reached = {
            let mut expands = |m: Id| *youth.entry(m).or_insert_with(|| youth_of(m)) != Youth::Old;
            self.reach(a, b, horizon, Some(&mut expands), None)
        };
        let members: Vec<Id> = reached.iter().copied().collect();
        let recent = |row: &Row, x: &Id| row.get(x).is_some_and(|tie| tie.last >= horizon);
        // More partners than this and no group can hold half of them.
        let too_many = 2 * self.rules.max_members;
        // Per member: how young it is; whom among the accounts reached it boosts, is boosted by, and either (by
        // position); then how many partners it has in the window, and how many of them are not popular, counted
        // without collecting them (the walk's leaves include popular accounts with hundreds).
        let mut boosts: Vec<Vec<usize>> = Vec::with_capacity(members.len());
        let mut boosters: Vec<Vec<usize>> = Vec::with_capacity(members.len());
        let mut either: Vec<Vec<usize>> = Vec::with_capacity(members.len());
        let mut partners: Vec<usize> = Vec::with_capacity(members.len());
        let mut unpopular_partners: Vec<usize> = Vec::with_capacity(members.len());
        let mut popular: Vec<bool> = Vec::with_capacity(members.len());
        let ages: Vec<Youth> = members
            .iter()
            .map(|&m| *youth.entry(m).or_insert_with(|| youth_of(m)))
            .collect();
        for &m in &members {
            let (outs, ins) = (self.outs(m), self.ins(m));
            let (mut to, mut from, mut any) = (Vec::new(), Vec::new(), Vec::new());
            for (j, x) in members.iter().enumerate() {
                let (out, inn) = (recent(outs, x), recent(ins, x));
                if out {
                    to.push(j);
                }
                if inn {
                    from.push(j);
                }
                if out || inn {
                    any.push(j);
                }
            }
            boosts.push(to);
            boosters.push(from);
            either.push(any);
        }
        // What a returning ring shares as camouflage: accounts reached, not fresh, that two or more young ones boost
        // and that boost fewer than half as many of them back (only returning members use it, below).
        let young = |j: &usize| ages[*j] != Youth::Old;
        let fresh = |j: &usize| ages[*j] == Youth::Fresh;
        let count = |positions: &[usize], which: &dyn Fn(&usize) -> bool| positions.iter().filter(|j| which(j)).count();
        let any_returning = ages.contains(&Youth::Returning);
        let shared_camouflage: IdSet = (0..members.len())
            .filter(|&i| {
                let boosted_by = count(&boosters[i], &young);
                any_returning && !fresh(&i) && boosted_by >= 2 && 2 * count(&boosts[i], &young) < boosted_by
            })
            .map(|i| members[i])
            .collect();
        // What a mixed ring's hijacked side looks like to its fresh members: older accounts reached that are tied to
        // two or more fresh ones and boost one. Busy, they leave the cohort, but they are no partners of a fresh
        // member's own (an established account newcomers follow together does not boost them).
        let company: IdSet = (0..members.len())
            .filter(|&i| !young(&i) && count(&either[i], &fresh) >= 2 && count(&boosts[i], &fresh) >= 1)
            .map(|i| members[i])
            .collect();
        for (i, &m) in members.iter().enumerate() {
            let (outs, ins) = (self.outs(m), self.ins(m));
            let busy = |row| graph.recent_rev(row, horizon).take(too_many + 1).count() > too_many;
            let member_popular = is_popular(graph, m);
            let (all, unpopular) = if busy(outs) || busy(ins) {
                (usize::MAX, usize::MAX)
            } else {
                // Each partner once, whichever way they are tied; a popular member's partners all count: it is what
                // a camouflage target looks like. A returning member's share of the shared camouflage is no partner
                // of its own: strangers back from dormancy boosting the same accounts are a farm (old friends doing so
                // are acquainted, `EngineState::acquaintances`). Not so for fresh members: newcomers follow the same
                // established accounts; but the company (above) is none of a fresh member's own partners.
                let partners = graph
                    .recent_rev(outs, horizon)
                    .chain(graph.recent_rev(ins, horizon).filter(|x| !recent(outs, x)));
                let returning = ages[i] == Youth::Returning;
                partners.fold((0, 0), |(all, unpopular), x| {
                    let camouflage =
                        (returning && shared_camouflage.contains(&x)) || (fresh(&i) && company.contains(&x));
                    (
                        all + usize::from(!camouflage),
                        unpopular + usize::from(member_popular || !(is_popular(graph, x) || camouflage)),
                    )
                })
            };
            partners.push(all);
            unpopular_partners.push(unpopular);
            popular.push(member_popular);
        }
        // Whether a member back from dormancy came back with a ring (below): when each came back, how many boost it
        // in the window, and whether all it boosts there are young accounts, popular ones or the shared camouflage.
        let returns: Vec<Option<f64>> = (0..members.len())
            .map(|i| (ages[i] == Youth::Returning).then(|| returned_at(members[i])).flatten())
            .collect();
        let all_boosters: Vec<usize> = (0..members.len())
            .map(|i| match returns[i] {
                Some(_) => graph
                    .recent_rev(self.ins(members[i]), horizon)
                    .take(too_many + 1)
                    .count(),
                None => 0,
            })
            .collect();
        let young_set: IdSet = (0..members.len()).filter(young).map(|i| members[i]).collect();
        let boosts_outside_only_camouflage: Vec<bool> = (0..members.len())
            .map(|i| {
                returns[i].is_some()
                    && graph
                        .recent_rev(self.outs(members[i]), horizon)
                        .take(too_many + 1)
                        .all(|x| young_set.contains(&x) || is_popular(graph, x) || shared_camouflage.contains(&x))
            })
            .collect();
        // Counts inside the group as it is peeled, updated as members leave.
        let mut n_boosts: Vec<usize> = boosts.iter().map(Vec::len).collect();
        let mut n_boosters: Vec<usize> = boosters.iter().map(Vec::len).collect();
        let mut n_inside: Vec<usize> = either.iter().map(Vec::len).collect();
        let mut alive = vec![true; members.len()];
        let mut size = members.len();
        // The rules that do not depend on the group's size first: the walk's leaves (camouflage targets, the
        // members' other partners) would otherwise count in the share an older member must boost, and push the
        // ring's older members out with them, and the fresh members after them. Each round drops every member
        // that leaves at once (`peel_together`).
        for by_size in [false, true] {
            loop {
                // A member back from dormancy came back with a ring when it came back within a day of a member
                // boosting it, boosts nothing but young accounts, popular ones and the shared camouflage, and nobody
                // outside boosts it: a farm takes its accounts over together, where a camouflage target back from a
                // quiet spell came back on its own and trades with accounts of its own.
                let came_back_with_ring = |i: usize| {
                    let Some(at) = returns[i] else { return false };
                    boosts_outside_only_camouflage[i]
                        && all_boosters[i] <= n_boosters[i]
                        && boosters[i]
                            .iter()
                            .any(|&j| alive[j] && returns[j].is_some_and(|other| (other - at).abs() <= DAY))
                };
                // One back from dormancy stands in for a fresh one, unless, while two or more members boost it, it
                // boosts one member only, answering it, without having come back with them, or, popular, fewer than
                // half as many members: an organic account back from a quiet spell that a ring boosts as camouflage,
                // answering a member it knew. Asking that of every member peels a young ring away, its members
                // boosted unevenly at first.
                let came_back_unasked = |i: usize| {
                    let m = members[i];
                    came_back_with_ring(i)
                        && returns[i].is_some_and(|at| {
                            boosters[i]
                                .iter()
                                .all(|&j| self.ins(m).get(&members[j]).is_none_or(|tie| tie.first >= at))
                        })
                };
                let camouflage_target = |i: usize| {
                    let m = members[i];
                    let answers = |&j: &usize| {
                        let x = members[j];
                        let first = |row: &Row| row.get(&x).map_or(f64::INFINITY, |tie| tie.first);
                        !alive[j] || first(self.ins(m)) < first(self.outs(m))
                    };
                    ages[i] == Youth::Returning
                        && n_boosters[i] >= 2
                        && ((n_boosts[i] == 1 && boosts[i].iter().all(answers) && !came_back_unasked(i))
                            || (popular[i] && 2 * n_boosts[i] < n_boosters[i]))
                };
                let leaves = |i: usize| {
                    // An older account joins a cohort only by trading like a member, not as a camouflage target; a
                    // fresh one boosted by two members, or one back from dormancy that came back with them, is the
                    // ring's receiving side, before it has boosted back.
                    let min_boosts = match (ages[i], by_size) {
                        (Youth::Fresh, _) if n_boosters[i] >= 2 => 0.0,
                        (Youth::Returning, _) if n_boosters[i] >= 2 && came_back_with_ring(i) => 0.0,
                        (Youth::Fresh | Youth::Returning, _) => 1.0,
                        (Youth::Old, false) => 2.0,
                        (Youth::Old, true) => (MIN_BOOST_SHARE * (size - 1) as f64).max(2.0),
                    };
                    // A fresh member's popular partners never count: a bought account's camouflage.
                    let counted = if by_size && size < COHORT_UNPOPULAR_MIN_MEMBERS && ages[i] != Youth::Fresh {
                        partners[i]
                    } else {
                        unpopular_partners[i]
                    };
                    n_inside[i] < 2
                        || (n_inside[i] as f64) < COHORT_MIN_CLOSURE * counted as f64
                        || (n_boosts[i] as f64) < min_boosts
                        || camouflage_target(i)
                };
                let leaving: Vec<usize> = (0..members.len()).filter(|&i| alive[i] && leaves(i)).collect();
                if leaving.is_empty() {
                    break;
                }
                for &i in &leaving {
                    alive[i] = false;
                }
                size -= leaving.len();
                for &i in &leaving {
                    boosts[i].iter().for_each(|&j| n_boosters[j] -= 1);
                    boosters[i].iter().for_each(|&j| n_boosts[j] -= 1);
                    either[i].iter().for_each(|&j| n_inside[j] -= 1);
                }
            }
        }
        // Older accounts are only the cohort's company: without a young majority it is the ordinary finder's case.
        let n_young = (0..members.len())
            .filter(|&i| alive[i] && ages[i] != Youth::Old)
            .count();
        if 2 * n_young > size {
            (0..members.len()).filter(|&i| alive[i]).map(|i| members[i]).collect()
        } else {
            IdSet::default()
        }
    }

    /// Accounts trading with each other within the last hour, however old they are: a ring trading in sessions
    /// shows as a group where every member boosts, and is boosted by, another member within the session (and, over
    /// the ring window, boosts back at least half as many members as boost it).
    pub fn lockstep(&self, a: Id, b: Id, now: f64) -> IdSet {
        let graph = self.graph;
        let since = now - LOCKSTEP_S;
        // The new boost a -> b matters only if both keep their place in a group: a must also be boosted and b must
        // also boost within the session. Any group without them existed before this boost and was searched then.
        if !(graph.any_recent(self.ins(a), since) && graph.any_recent(self.outs(b), since)) {
            return IdSet::default();
        }
        let mut walked = Walked::default();
        let mut group = self.reach(a, b, since, None, Some(&mut walked));
        if group.len() < self.rules.min_members {
            return IdSet::default();
        }
        let horizon = now - graph.window;
        // Per member: boosts and boosters in the session; boosts and boosters inside the group over the ring window.
        let mut session: FxHashMap<Id, (IdSet, IdSet)> = FxHashMap::default();
        let mut inside: FxHashMap<Id, (IdSet, IdSet)> = FxHashMap::default();
        for &m in &group {
            let (outs, ins) = match walked.remove(&m) {
                Some(pair) => pair,
                None => (graph.recent(self.outs(m), since), graph.recent(self.ins(m), since)),
            };
            session.insert(m, (outs.into_iter().collect(), ins.into_iter().collect()));
            let boosts = graph.recent_among(self.outs(m), horizon, &group);
            let boosted = graph.recent_among(self.ins(m), horizon, &group);
            inside.insert(m, (boosts, boosted));
        }
        loop {
            peel_together(&mut group, |m, group| {
                let (boosts, boosters) = &session[&m];
                let n_tied = group
                    .iter()
                    .filter(|x| boosts.contains(x) || boosters.contains(x))
                    .count();
                count_in(boosts, group) == 0 || count_in(boosters, group) == 0 || n_tied < 2
            });
            // The boost-back rule gets easier as members leave (fewer boost a member), so it drops one account at a
            // time, the one boosting back least, and the session rules run again: not the accounts' names but their
            // trading decides who stays.
            let mut worst: Option<(i64, Id)> = None;
            for &m in &group {
                let (boosts, boosted) = &inside[&m];
                let shortfall = count_in(boosted, &group) as i64 - 2 * count_in(boosts, &group) as i64;
                let worse = match worst {
                    None => true,
                    Some((s, id)) => shortfall > s || (shortfall == s && graph.name(m) > graph.name(id)),
                };
                if worse {
                    worst = Some((shortfall, m));
                }
            }
            match worst {
                Some((shortfall, m)) if shortfall > 0 => {
                    group.remove(&m);
                }
                _ => return group,
            }
        }
    }

    /// The pair and the accounts reached from it over ties made at or after `since` (either direction), up to
    /// `max_members`; hubs are not reached, and only accounts passing `expands` (all when None) are walked on
    /// from. `walked` receives the recent boost targets and boosters of each account walked from.
    fn reach(
        &self,
        a: Id,
        b: Id,
        since: f64,
        mut expands: Option<&mut dyn FnMut(Id) -> bool>,
        mut walked: Option<&mut Walked>,
    ) -> IdSet {
        let max_members = self.rules.max_members;
        let mut group: IdSet = [a, b].into_iter().collect();
        let mut frontier = vec![a, b];
        while group.len() < max_members {
            let Some(m) = frontier.pop() else { break };
            let outs = self.graph.recent(self.outs(m), since);
            let ins = self.graph.recent(self.ins(m), since);
            for recent in [&outs, &ins] {
                for &other in recent {
                    if group.len() >= max_members {
                        break;
                    }
                    if !group.contains(&other) && self.could_be_member(other) {
                        group.insert(other);
                        if expands.as_mut().is_none_or(|expands| expands(other)) {
                            frontier.push(other);
                        }
                    }
                }
            }
            if let Some(walked) = walked.as_mut() {
                walked.insert(m, (outs, ins));
            }
        }
        group
    }

    /// The sums behind a candidate group's features; members are visited in name order, so float sums do not
    /// depend on how sets are walked.
    pub fn describe(&self, members: &IdSet, now: f64) -> GroupSums {
        let graph = self.graph;
        let since = now - LOCKSTEP_S;
        let horizon = now - graph.window;
        let mut sorted: Vec<Id> = members.iter().copied().collect();
        sorted.sort_by(|x, y| graph.name(*x).cmp(graph.name(*y)));
        let mut s = GroupSums {
            size: members.len(),
            tied: 0,
            mutual: 0,
            edges: 0,
            in_session: 0,
            inflow: 0.0,
            boosted_members: 0,
            outflow: 0.0,
            outside: 0,
        };
        for m in sorted {
            let (out_row, in_row) = (self.outs(m), self.ins(m));
            let is_recent = |row: &Row, x: &Id| row.get(x).is_some_and(|tie| tie.last >= horizon);
            // Counted, not collected: a candidate's members can have hundreds of partners each.
            let (mut n_outs, mut n_ins, mut both) = (0, 0, 0);
            let (mut out_in_group, mut in_in_group, mut mutual) = (0, 0, 0);
            for x in graph.recent_rev(out_row, horizon) {
                n_outs += 1;
                let boosted_back = is_recent(in_row, &x);
                both += boosted_back as usize;
                if members.contains(&x) {
                    out_in_group += 1;
                    mutual += boosted_back as usize;
                    s.in_session += (out_row[&x].last >= since) as usize;
                }
            }
            for x in graph.recent_rev(in_row, horizon) {
                n_ins += 1;
                in_in_group += members.contains(&x) as usize;
            }
            let tied_m = out_in_group + in_in_group - mutual;
            s.tied += tied_m;
            s.edges += out_in_group;
            s.mutual += mutual;
            // A member nobody boosted yet (a ring just starting) says nothing about inflow.
            if n_ins > 0 {
                s.inflow += in_in_group as f64 / n_ins as f64;
                s.boosted_members += 1;
            }
            s.outflow += if n_outs == 0 {
                0.0
            } else {
                out_in_group as f64 / n_outs as f64
            };
            s.outside += n_outs + n_ins - both - tied_m;
        }
        s
    }
}

/// Sets of a group's members as bit rows: member `i` is bit `i`; row `i` of a table is member `i`'s set.
struct Bits {
    words: usize,
    data: Vec<u64>,
}

impl Bits {
    /// One row per member: bit `j` of row `i` for each position `j` that `inside(members[i])` yields.
    fn rows<I: Iterator<Item = usize>>(members: &[Id], inside: impl Fn(Id) -> I) -> Bits {
        let words = members.len().div_ceil(64).max(1);
        let mut data = vec![0u64; words * members.len()];
        for (i, &m) in members.iter().enumerate() {
            for j in inside(m) {
                data[i * words + j / 64] |= 1 << (j % 64);
            }
        }
        Bits { words, data }
    }

    /// One row holding all `n` members.
    fn full(n: usize) -> Bits {
        let words = n.div_ceil(64).max(1);
        let word = |w: usize| match n.saturating_sub(w * 64).min(64) {
            64 => u64::MAX,
            bits => (1u64 << bits) - 1,
        };
        Bits {
            words,
            data: (0..words).map(word).collect(),
        }
    }

    fn row(&self, i: usize) -> &[u64] {
        &self.data[i * self.words..(i + 1) * self.words]
    }

    fn count(&self) -> usize {
        self.data.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Members of this (single-row) set that are also in `row`.
    fn count_and(&self, row: &[u64]) -> usize {
        self.data
            .iter()
            .zip(row)
            .map(|(a, b)| (a & b).count_ones() as usize)
            .sum()
    }

    /// Members of this (single-row) set that are in both rows.
    fn count_and_and(&self, x: &[u64], y: &[u64]) -> usize {
        (0..self.words)
            .map(|w| (self.data[w] & x[w] & y[w]).count_ones() as usize)
            .sum()
    }

    /// The members of this (single-row) set, in bit order.
    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.data.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + bit
                })
            })
        })
    }

    fn clear(&mut self, i: usize) {
        self.data[i / 64] &= !(1 << (i % 64));
    }
}

#[derive(Default)]
struct Ties {
    /// 1 for the group's members.
    members: PerAccount,
    /// For each outside account: members it boosts.
    out: PerAccount,
    /// ... and members boosting it.
    inn: PerAccount,
    /// Candidates and their degree (hubs are never eligible).
    eligible: FxHashMap<Id, usize>,
}

thread_local! {
    /// The growth's tie counts, kept between searches: allocating them anew for each search was ~4 % of a replay.
    static TIES: RefCell<Ties> = RefCell::default();
    /// The peel's member positions, likewise.
    static POSITIONS: RefCell<PerAccount> = RefCell::default();
}

impl Ties {
    fn reset(&mut self, numbers: usize) {
        self.members.reset(numbers);
        self.out.reset(numbers);
        self.inn.reset(numbers);
        self.eligible.clear();
    }
}

/// A number per account, indexed by the account's number (0 for accounts not set): a search reads hundreds of
/// partners, and hashing each of them was most of its cost. Resetting clears only the entries set since. Four bytes
/// per account number; the four of them (growth's members, its two tie counts, the peel's positions) 16 bytes, against
/// the hundreds an account's state and graph rows take.
#[derive(Default)]
struct PerAccount {
    values: Vec<u32>,
    set: Vec<Id>,
}

impl PerAccount {
    /// Every entry 0, for accounts numbered below `numbers`.
    fn reset(&mut self, numbers: usize) {
        for &id in &self.set {
            self.values[id as usize] = 0;
        }
        self.set.clear();
        if self.values.len() < numbers {
            self.values.resize(numbers, 0);
        }
    }

    fn get(&self, id: Id) -> u32 {
        self.values[id as usize]
    }

    /// Add `by` to the account's number; return the sum.
    fn add(&mut self, id: Id, by: u32) -> u32 {
        let value = &mut self.values[id as usize];
        if *value == 0 {
            self.set.push(id);
        }
        *value += by;
        *value
    }
}

fn count_in(set: &IdSet, group: &IdSet) -> usize {
    if set.len() <= group.len() {
        set.iter().filter(|x| group.contains(x)).count()
    } else {
        group.iter().filter(|x| set.contains(x)).count()
    }
}

/// How many other members of `group` the member reaches through boosts inside it (`boosts`: each member's boost
/// targets among a group holding `group`).
fn reached(member: Id, boosts: &FxHashMap<Id, IdSet>, group: &IdSet) -> usize {
    let mut seen: IdSet = [member].into_iter().collect();
    let mut frontier = vec![member];
    while let Some(m) = frontier.pop() {
        for &next in &boosts[&m] {
            if group.contains(&next) && seen.insert(next) {
                frontier.push(next);
            }
        }
    }
    seen.len() - 1
}

/// Remove, round by round, every member that `leaves` the current group, all at once: thresholds relative to the
/// group's size get easier as it shrinks, so removing one at a time would let the accounts' names decide.
fn peel_together(group: &mut IdSet, leaves: impl Fn(Id, &IdSet) -> bool) {
    loop {
        let leaving: Vec<Id> = group.iter().copied().filter(|&m| leaves(m, group)).collect();
        if leaving.is_empty() {
            return;
        }
        for m in leaving {
            group.remove(&m);
        }
    }
}

/// Per follower sample of a growing account: how many of them trade (boost another follower in the sample, or
/// are boosted by an account other than the growing one), and how many boost the most shared other target
/// (lockstep). Bought followers only give; ring members boosting a popular account as camouflage also receive
/// from their ring, even before they are answered (a ring trading in rounds answers a round later) and when the
/// boosters come from several rings that never meet.
pub fn follower_ties(graph: &Graph, sample: &[Option<Id>], account: Option<Id>, now: f64) -> (usize, usize) {
    let horizon = now - graph.window;
    let followers: IdSet = sample.iter().flatten().copied().collect();
    let mut co_targets: FxHashMap<Id, usize> = FxHashMap::default();
    let mut trading = 0;
    for &f in sample.iter().flatten() {
        let targets = || graph.recent_rev(graph.out_row(f), horizon);
        let receives = || graph.recent_rev(graph.in_row(f), horizon).any(|x| Some(x) != account);
        if receives() || targets().any(|t| followers.contains(&t)) {
            trading += 1;
        }
        for t in targets() {
            *co_targets.entry(t).or_insert(0) += 1;
        }
    }
    if let Some(account) = account {
        co_targets.remove(&account);
    }
    (trading, co_targets.values().copied().max().unwrap_or(0))
}
