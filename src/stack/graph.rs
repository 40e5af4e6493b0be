//! A small directed acyclic graph over node indices, and the ready-queue that walks it.
//!
//! The stack uses it for its dependency graph; the executor builds one over the steps of
//! a plan. An edge `node → dependency` means the node may start only once the dependency
//! has finished, the shape of cargo's `DependencyQueue`.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// A directed graph whose edges point from a node to the nodes it depends on.
#[derive(Debug, Clone, Default)]
pub struct Dag {
    dependencies: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
}

impl Dag {
    /// Makes a graph of `len` nodes and no edges.
    pub fn new(len: usize) -> Self {
        Self {
            dependencies: vec![Vec::new(); len],
            dependents: vec![Vec::new(); len],
        }
    }

    pub fn len(&self) -> usize {
        self.dependencies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dependencies.is_empty()
    }

    /// Records that `node` depends on `dependency`; a repeated edge is kept once.
    pub fn add_edge(&mut self, node: usize, dependency: usize) {
        if !self.dependencies[node].contains(&dependency) {
            self.dependencies[node].push(dependency);
            self.dependents[dependency].push(node);
        }
    }

    pub fn dependencies(&self, node: usize) -> &[usize] {
        &self.dependencies[node]
    }

    pub fn dependents(&self, node: usize) -> &[usize] {
        &self.dependents[node]
    }

    /// Returns the same nodes with every edge turned around: the destroy order.
    pub fn reversed(&self) -> Dag {
        Dag {
            dependencies: self.dependents.clone(),
            dependents: self.dependencies.clone(),
        }
    }

    /// Returns one cycle (its nodes in dependency order, first node repeated at the end),
    /// or `None` when the graph is acyclic.
    pub fn find_cycle(&self) -> Option<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut marks = vec![Mark::New; self.len()];
        for start in 0..self.len() {
            if marks[start] != Mark::New {
                continue;
            }
            // Iterative depth-first search: the path is the stack of (node, next edge).
            let mut path: Vec<(usize, usize)> = vec![(start, 0)];
            marks[start] = Mark::OnPath;
            while let Some(&mut (node, ref mut next)) = path.last_mut() {
                if let Some(&dep) = self.dependencies[node].get(*next) {
                    *next += 1;
                    match marks[dep] {
                        Mark::New => {
                            marks[dep] = Mark::OnPath;
                            path.push((dep, 0));
                        }
                        Mark::OnPath => {
                            let from = path.iter().position(|&(n, _)| n == dep).expect("on path");
                            let mut cycle: Vec<usize> =
                                path[from..].iter().map(|&(n, _)| n).collect();
                            cycle.push(dep);
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    }
                } else {
                    marks[node] = Mark::Done;
                    path.pop();
                }
            }
        }
        None
    }

    /// Returns every node, dependencies first; among nodes that are ready together the
    /// lower index comes first, so the order is deterministic. `None` if there is a cycle.
    pub fn topological_order(&self) -> Option<Vec<usize>> {
        let mut queue = ReadyQueue::new(self, &vec![0; self.len()]);
        let mut order = Vec::with_capacity(self.len());
        while let Some(node) = queue.pop() {
            queue.finish(node);
            order.push(node);
        }
        (order.len() == self.len()).then_some(order)
    }

    /// Returns `starts` and everything they transitively depend on.
    pub fn with_dependencies(&self, starts: impl IntoIterator<Item = usize>) -> BTreeSet<usize> {
        closure(starts, |n| &self.dependencies[n])
    }

    /// Returns `starts` and everything that transitively depends on them.
    pub fn with_dependents(&self, starts: impl IntoIterator<Item = usize>) -> BTreeSet<usize> {
        closure(starts, |n| &self.dependents[n])
    }

    /// Returns, for each node, the longest sum of `weights` along a path from it through
    /// its dependents: how much work is still chained behind it once it starts.
    pub fn remaining_path(&self, weights: &[u64]) -> Vec<u64> {
        let order = self
            .topological_order()
            .expect("remaining_path needs an acyclic graph");
        let mut remaining = vec![0; self.len()];
        for &node in order.iter().rev() {
            let tail = self.dependents[node]
                .iter()
                .map(|&d| remaining[d])
                .max()
                .unwrap_or(0);
            remaining[node] = weights[node] + tail;
        }
        remaining
    }

    /// Returns the heaviest chain of `weights`, in the order its nodes run (each one a
    /// dependency of the next): the critical path, empty for an empty graph. Ties go to
    /// the lower index, so the answer is deterministic.
    pub fn critical_path(&self, weights: &[u64]) -> Vec<usize> {
        let remaining = self.remaining_path(weights);
        let heaviest = |candidates: &[usize]| {
            candidates
                .iter()
                .copied()
                .max_by_key(|&n| (remaining[n], std::cmp::Reverse(n)))
        };
        let roots: Vec<usize> = (0..self.len())
            .filter(|&n| self.dependencies[n].is_empty())
            .collect();
        let mut path = Vec::new();
        let mut next = heaviest(&roots);
        while let Some(node) = next {
            path.push(node);
            next = heaviest(&self.dependents[node]);
        }
        path
    }
}

fn closure<'a>(
    starts: impl IntoIterator<Item = usize>,
    next: impl Fn(usize) -> &'a [usize],
) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<usize> = starts.into_iter().collect();
    while let Some(node) = todo.pop() {
        if seen.insert(node) {
            todo.extend_from_slice(next(node));
        }
    }
    seen
}

/// Hands out the nodes of a [`Dag`] whose dependencies have all finished, highest
/// priority first (ties: lowest index), so the longest chains start earliest.
#[derive(Debug, Clone)]
pub struct ReadyQueue {
    dependents: Vec<Vec<usize>>,
    waiting_on: Vec<usize>,
    priority: Vec<u64>,
    ready: BinaryHeap<(u64, Reverse<usize>)>,
    abandoned: Vec<bool>,
}

impl ReadyQueue {
    /// Makes a queue over `dag`; `priority[n]` orders nodes that are ready together.
    pub fn new(dag: &Dag, priority: &[u64]) -> Self {
        let waiting_on: Vec<usize> = (0..dag.len()).map(|n| dag.dependencies(n).len()).collect();
        let ready = (0..dag.len())
            .filter(|&n| waiting_on[n] == 0)
            .map(|n| (priority[n], Reverse(n)))
            .collect();
        Self {
            dependents: dag.dependents.clone(),
            waiting_on,
            priority: priority.to_vec(),
            ready,
            abandoned: vec![false; dag.len()],
        }
    }

    /// Takes the next ready node, if any.
    pub fn pop(&mut self) -> Option<usize> {
        self.ready.pop().map(|(_, Reverse(n))| n)
    }

    /// Records that `node` finished: dependents with nothing else to wait for become ready.
    pub fn finish(&mut self, node: usize) {
        for &dependent in &self.dependents[node] {
            self.waiting_on[dependent] -= 1;
            if self.waiting_on[dependent] == 0 && !self.abandoned[dependent] {
                self.ready
                    .push((self.priority[dependent], Reverse(dependent)));
            }
        }
    }

    /// Records that `node` failed: returns every node that transitively depends on it and
    /// was not abandoned before, none of which will ever become ready.
    pub fn fail(&mut self, node: usize) -> Vec<usize> {
        let mut skipped = Vec::new();
        let mut todo = self.dependents[node].clone();
        while let Some(n) = todo.pop() {
            if !self.abandoned[n] {
                self.abandoned[n] = true;
                skipped.push(n);
                todo.extend_from_slice(&self.dependents[n]);
            }
        }
        skipped.sort_unstable();
        skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0 ← 1 ← 3, 0 ← 2 ← 3 (3 depends on 1 and 2, which depend on 0), 4 alone.
    fn diamond() -> Dag {
        let mut dag = Dag::new(5);
        dag.add_edge(1, 0);
        dag.add_edge(2, 0);
        dag.add_edge(3, 1);
        dag.add_edge(3, 2);
        dag
    }

    #[test]
    fn orders_dependencies_first() {
        assert_eq!(diamond().topological_order(), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(
            diamond().reversed().topological_order(),
            Some(vec![3, 1, 2, 0, 4])
        );
    }

    #[test]
    fn finds_a_cycle() {
        let mut dag = diamond();
        assert_eq!(dag.find_cycle(), None);
        dag.add_edge(0, 3);
        let cycle = dag.find_cycle().unwrap();
        assert_eq!(cycle.first(), cycle.last());
        assert!(cycle.contains(&0) && cycle.contains(&3));
        assert_eq!(dag.topological_order(), None);
    }

    #[test]
    fn closures_follow_edges() {
        let dag = diamond();
        assert_eq!(dag.with_dependencies([3]), BTreeSet::from([0, 1, 2, 3]));
        assert_eq!(dag.with_dependents([1]), BTreeSet::from([1, 3]));
    }

    #[test]
    fn ready_queue_prefers_long_chains_and_abandons_dependents_of_failures() {
        let dag = diamond();
        let mut queue = ReadyQueue::new(&dag, &[1, 1, 1, 1, 5]);
        assert_eq!(queue.pop(), Some(4));
        assert_eq!(queue.pop(), Some(0));
        assert_eq!(queue.pop(), None);
        queue.finish(0);
        assert_eq!(queue.pop(), Some(1));
        assert_eq!(queue.fail(1), vec![3]);
        assert_eq!(queue.pop(), Some(2));
        queue.finish(2);
        assert_eq!(queue.pop(), None, "3 was abandoned");
    }

    #[test]
    fn remaining_path_sums_the_longest_chain() {
        let dag = diamond();
        assert_eq!(dag.remaining_path(&[1, 10, 2, 5, 3]), vec![16, 15, 7, 5, 3]);
    }

    #[test]
    fn critical_path_follows_the_heaviest_chain_in_run_order() {
        let dag = diamond();
        assert_eq!(dag.critical_path(&[1, 10, 2, 5, 3]), vec![0, 1, 3]);
        assert_eq!(dag.critical_path(&[1, 2, 10, 5, 3]), vec![0, 2, 3]);
        assert_eq!(dag.critical_path(&[1, 1, 1, 1, 30]), vec![4]);
        assert_eq!(Dag::new(0).critical_path(&[]), Vec::<usize>::new());
    }
}
