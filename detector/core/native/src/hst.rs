//! River's half-space trees behind a min-max scaler (`compose.Pipeline(MinMaxScaler(), HalfSpaceTrees(...))`),
//! learning and scoring exactly as river 0.26 does, on trees river built.
//!
//! The trees are river's own (`river.tree.padded.make_padded_tree`, built in Python from the model's seed and
//! handed over in heap order); only the per-candidate walks are here: in Python they were about half of the
//! engine's time on dense traffic. `tests/test_models.py` checks every score against river's own pipeline.

use crate::codec::{Reader, Writer};

/// Snapshot layout version of the forest.
const FORMAT: u8 = 1;
/// Deeper trees than any model uses are refused (a damaged state could otherwise ask for any size).
const MAX_HEIGHT: usize = 20;

/// One tree: its branches in heap order (node `i` has children `2i+1` and `2i+2`; `2^height - 1` branches) and the
/// masses of every node, leaves included.
#[derive(Clone)]
struct Tree {
    feature: Vec<usize>,
    threshold: Vec<f64>,
    l_mass: Vec<u64>,
    r_mass: Vec<u64>,
}

impl Tree {
    /// The child a value leads to; with the value missing, the child more visited in the current window (river's
    /// rule for a missing feature).
    fn next(&self, node: usize, x: &[Option<f64>]) -> usize {
        let (left, right) = (2 * node + 1, 2 * node + 2);
        match x[self.feature[node]] {
            Some(value) if value < self.threshold[node] => left,
            Some(_) => right,
            None if self.l_mass[left] < self.l_mass[right] => right,
            None => left,
        }
    }
}

pub struct Forest {
    height: usize,
    window_size: u64,
    trees: Vec<Tree>,
    /// Observations learnt in the current window, and whether the first window is still filling.
    counter: u64,
    first_window: bool,
    /// The scaler's running minimum and maximum per feature (river's `stats.Min` / `stats.Max`).
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Forest {
    /// `trees`: per tree, its `2^height - 1` branches in heap order as (feature index, threshold).
    pub fn new(
        features: usize,
        height: usize,
        window_size: u64,
        trees: Vec<Vec<(usize, f64)>>,
    ) -> Result<Self, String> {
        if height == 0 || height > MAX_HEIGHT {
            return Err(format!("trees of height {height}: 1 to {MAX_HEIGHT} are supported"));
        }
        let branches = (1usize << height) - 1;
        let nodes = 2 * branches + 1;
        let mut built = Vec::with_capacity(trees.len());
        for tree in trees {
            if tree.len() != branches || tree.iter().any(|&(f, _)| f >= features) {
                return Err(format!(
                    "a tree of height {height} over {features} features has {branches} branches, each on one of them"
                ));
            }
            let (feature, threshold) = tree.into_iter().unzip();
            built.push(Tree {
                feature,
                threshold,
                l_mass: vec![0; nodes],
                r_mass: vec![0; nodes],
            });
        }
        if built.is_empty() || window_size == 0 {
            return Err("a forest needs trees and a window".into());
        }
        Ok(Forest {
            height,
            window_size,
            trees: built,
            counter: 0,
            first_window: true,
            min: vec![f64::INFINITY; features],
            max: vec![f64::NEG_INFINITY; features],
        })
    }

    pub fn features(&self) -> usize {
        self.min.len()
    }

    /// `MinMaxScaler.learn_one`, then `transform_one`, then `HalfSpaceTrees.learn_one`.
    pub fn learn_one(&mut self, x: &[Option<f64>]) {
        for (i, value) in x.iter().enumerate() {
            if let &Some(v) = value {
                if v < self.min[i] {
                    self.min[i] = v;
                }
                if v > self.max[i] {
                    self.max[i] = v;
                }
            }
        }
        let x = self.scale(x);
        for tree in &mut self.trees {
            let mut node = 0;
            for _ in 0..self.height {
                tree.l_mass[node] += 1;
                node = tree.next(node, &x);
            }
            tree.l_mass[node] += 1;
        }
        self.counter += 1;
        if self.counter == self.window_size {
            for tree in &mut self.trees {
                tree.r_mass.copy_from_slice(&tree.l_mass);
                tree.l_mass.fill(0);
            }
            self.first_window = false;
            self.counter = 0;
        }
    }

    /// `transform_one`, then `HalfSpaceTrees.score_one`: 0 while the first window fills, else 1 minus the mass
    /// along each tree's path (deeper nodes weigh double) over the largest possible.
    pub fn score_one(&self, x: &[Option<f64>]) -> f64 {
        if self.first_window {
            return 0.0;
        }
        let x = self.scale(x);
        let size_limit = 0.1 * self.window_size as f64;
        let mut score = 0.0;
        for tree in &self.trees {
            score += self.walk_score(tree, &x, size_limit);
        }
        let max_score = (self.trees.len() as u64 * self.window_size * ((1u64 << (self.height + 1)) - 1)) as f64;
        1.0 - score / max_score
    }

    fn walk_score(&self, tree: &Tree, x: &[Option<f64>], size_limit: f64) -> f64 {
        // Summed as river sums it (a float plus exact integer products, in path order), so the result is the same
        // to the last bit.
        let mut node = 0;
        let mut depth_pow = 1u64;
        let mut score = 0.0;
        for _ in 0..self.height {
            let r = tree.r_mass[node];
            score += (r * depth_pow) as f64;
            if (r as f64) < size_limit {
                return score;
            }
            node = tree.next(node, x);
            depth_pow <<= 1;
        }
        score + (tree.r_mass[node] * depth_pow) as f64
    }

    fn scale(&self, x: &[Option<f64>]) -> Vec<Option<f64>> {
        x.iter()
            .enumerate()
            .map(|(i, value)| {
                value.map(|v| {
                    let d = self.max[i] - self.min[i];
                    if d != 0.0 {
                        (v - self.min[i]) / d
                    } else {
                        0.0
                    }
                })
            })
            .collect()
    }

    /// The whole forest, trees and learnt state, as bytes (`from_state` reads them back).
    pub fn state(&self) -> Vec<u8> {
        let mut w = Writer::new(FORMAT);
        w.u64(self.min.len() as u64);
        w.u64(self.height as u64);
        w.u64(self.window_size);
        w.u64(self.trees.len() as u64);
        w.u64(self.counter);
        w.bool(self.first_window);
        for (&lo, &hi) in self.min.iter().zip(&self.max) {
            w.f64(lo);
            w.f64(hi);
        }
        for tree in &self.trees {
            for (&f, &t) in tree.feature.iter().zip(&tree.threshold) {
                w.u64(f as u64);
                w.f64(t);
            }
            for (&l, &r) in tree.l_mass.iter().zip(&tree.r_mass) {
                w.u64(l);
                w.u64(r);
            }
        }
        w.buf
    }

    pub fn from_state(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader::new(bytes, "half-space forest", FORMAT)?;
        let features = r.len()?;
        let height = r.len()?;
        let window_size = r.u64()?;
        let n_trees = r.len()?;
        let counter = r.u64()?;
        let first_window = r.bool()?;
        if height > MAX_HEIGHT {
            return Err(format!("half-space forest state has trees of height {height}"));
        }
        let mut min = Vec::with_capacity(features);
        let mut max = Vec::with_capacity(features);
        for _ in 0..features {
            min.push(r.f64()?);
            max.push(r.f64()?);
        }
        let branches = (1usize << height) - 1;
        let mut trees = Vec::with_capacity(n_trees);
        let mut masses = Vec::with_capacity(n_trees);
        for _ in 0..n_trees {
            let mut tree = Vec::with_capacity(branches);
            for _ in 0..branches {
                tree.push((r.len()?, r.f64()?));
            }
            trees.push(tree);
            let mut mass = Vec::with_capacity(2 * branches + 1);
            for _ in 0..2 * branches + 1 {
                mass.push((r.u64()?, r.u64()?));
            }
            masses.push(mass);
        }
        r.finish()?;
        let mut forest = Forest::new(features, height, window_size, trees)?;
        if counter >= window_size {
            return Err("half-space forest state counts past its window".into());
        }
        for (tree, mass) in forest.trees.iter_mut().zip(masses) {
            (tree.l_mass, tree.r_mass) = mass.into_iter().unzip();
        }
        (forest.counter, forest.first_window, forest.min, forest.max) = (counter, first_window, min, max);
        Ok(forest)
    }
}
