//! The dependency graph of a pipeline: which node produces each value, which nodes need it, a
//! deterministic topological order, and validation (duplicate producers, cycles, type mismatches).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::node::Node;

/// The wiring of a pipeline's nodes. Nodes are indexed in name order; values by id.
#[derive(Debug)]
pub struct Graph {
    /// Value names, indexed by value id.
    pub names: Vec<Arc<str>>,
    /// Value id of each name.
    pub ids: HashMap<Arc<str>, usize>,
    /// For each value: the producing node and the output position, or `None` for a root input.
    pub producer: Vec<Option<(usize, usize)>>,
    /// For each value: the nodes that take it, in node order.
    pub consumers: Vec<Vec<usize>>,
    /// For each node: the value ids of its parameters, in call order.
    pub node_inputs: Vec<Box<[usize]>>,
    /// For each node: the value ids of its outputs, in return order.
    pub node_outputs: Vec<Box<[usize]>>,
    /// All nodes in topological order; among ready nodes, by name.
    pub order: Vec<usize>,
    /// Values no node produces, sorted by name.
    pub root_inputs: Vec<usize>,
}

impl Graph {
    /// Wires `nodes` (which must be sorted by name) and validates the result.
    pub(crate) fn build(nodes: &[Node]) -> Result<Graph> {
        let mut names: Vec<Arc<str>> = Vec::new();
        let mut ids: HashMap<Arc<str>, usize> = HashMap::new();
        let mut intern = |n: &Arc<str>| -> usize {
            if let Some(&id) = ids.get(n) {
                return id;
            }
            names.push(n.clone());
            ids.insert(n.clone(), names.len() - 1);
            names.len() - 1
        };
        for w in nodes.windows(2) {
            if w[0].name() == w[1].name() {
                return Err(Error::DuplicateNode(w[0].name().to_string()));
            }
        }
        let node_outputs: Vec<Box<[usize]>> = nodes
            .iter()
            .map(|n| n.outputs().iter().map(|p| intern(&p.name)).collect())
            .collect();
        let node_inputs: Vec<Box<[usize]>> = nodes
            .iter()
            .map(|n| n.params().iter().map(|p| intern(&p.name)).collect())
            .collect();
        let mut producer: Vec<Option<(usize, usize)>> = vec![None; names.len()];
        for (ni, outs) in node_outputs.iter().enumerate() {
            for (pos, &v) in outs.iter().enumerate() {
                if let Some((other, _)) = producer[v] {
                    return Err(Error::DuplicateOutput {
                        output: names[v].to_string(),
                        first: nodes[other].name().to_string(),
                        second: nodes[ni].name().to_string(),
                    });
                }
                producer[v] = Some((ni, pos));
            }
        }
        let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
        for (ni, ins) in node_inputs.iter().enumerate() {
            for &v in ins.iter() {
                consumers[v].push(ni);
            }
        }
        let mut root_inputs: Vec<usize> = (0..names.len())
            .filter(|&v| producer[v].is_none())
            .collect();
        root_inputs.sort_by(|&a, &b| names[a].cmp(&names[b]));
        let mut graph = Graph {
            names,
            ids,
            producer,
            consumers,
            node_inputs,
            node_outputs,
            order: Vec::new(),
            root_inputs,
        };
        graph.order = graph.topological_order(nodes)?;
        graph.check_types(nodes)?;
        Ok(graph)
    }

    /// The upstream nodes of node `n` (producers of its parameters), without repeats.
    pub(crate) fn upstream(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        let ins = &self.node_inputs[n];
        ins.iter().enumerate().filter_map(move |(i, &v)| {
            let p = self.producer[v]?.0;
            // skip a producer already yielded for an earlier parameter
            let dup = ins[..i]
                .iter()
                .any(|&w| self.producer[w].map(|x| x.0) == Some(p));
            (!dup).then_some(p)
        })
    }

    fn topological_order(&self, nodes: &[Node]) -> Result<Vec<usize>> {
        let n = nodes.len();
        let mut indegree: Vec<usize> = (0..n).map(|i| self.upstream(i).count()).collect();
        let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); n];
        for i in 0..n {
            for u in self.upstream(i) {
                downstream[u].push(i);
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &d in &downstream[i] {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.push(Reverse(d));
                }
            }
        }
        if order.len() < n {
            return Err(Error::Cycle {
                cycle: self.find_cycle(nodes, &indegree),
            });
        }
        Ok(order)
    }

    /// Walks upstream from a node left with unmet dependencies until a node repeats.
    fn find_cycle(&self, nodes: &[Node], indegree: &[usize]) -> Vec<String> {
        let start = (0..nodes.len()).find(|&i| indegree[i] > 0).unwrap_or(0);
        let mut seen: HashMap<usize, usize> = HashMap::new();
        let mut path = Vec::new();
        let mut cur = start;
        loop {
            if let Some(&pos) = seen.get(&cur) {
                let mut cycle: Vec<String> = path[pos..]
                    .iter()
                    .rev()
                    .map(|&i: &usize| nodes[i].name().to_string())
                    .collect();
                cycle.push(cycle[0].clone());
                return cycle;
            }
            seen.insert(cur, path.len());
            path.push(cur);
            cur = self
                .upstream(cur)
                .find(|&u| indegree[u] > 0)
                .expect("a node left by Kahn's algorithm has an unfinished producer");
        }
    }

    fn check_types(&self, nodes: &[Node]) -> Result<()> {
        for &v in &self.root_inputs {
            let mut first: Option<(usize, &std::sync::Arc<dyn crate::value::ValueType>)> = None;
            for &n in &self.consumers[v] {
                let pos = self.node_inputs[n]
                    .iter()
                    .position(|&w| w == v)
                    .expect("a consumer takes the value");
                let ty = &nodes[n].params()[pos].ty;
                let Some(id) = ty.type_id() else { continue };
                match first {
                    None => first = Some((n, ty)),
                    Some((f, fty)) if fty.type_id() != Some(id) => {
                        return Err(Error::InputTypeConflict(Box::new(
                            crate::error::TypeConflict {
                                input: self.names[v].to_string(),
                                first: nodes[f].name().to_string(),
                                first_type: crate::value::short_type_name(fty.type_name()),
                                second: nodes[n].name().to_string(),
                                second_type: crate::value::short_type_name(ty.type_name()),
                            },
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        for (ni, node) in nodes.iter().enumerate() {
            for (pi, &v) in self.node_inputs[ni].iter().enumerate() {
                let Some((prod, pos)) = self.producer[v] else {
                    continue;
                };
                let want = &node.params()[pi].ty;
                let have = &nodes[prod].outputs()[pos].ty;
                if let (Some(a), Some(b)) = (want.type_id(), have.type_id()) {
                    if a != b {
                        return Err(Error::TypeMismatch {
                            value: self.names[v].to_string(),
                            producer: nodes[prod].name().to_string(),
                            produced: have.type_name().to_string(),
                            consumer: node.name().to_string(),
                            expected: want.type_name().to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}
