//! The dependency graph of services (`depends_on`): cycles and start order. (Who depends
//! on whom, for the shutdown order, is `crate::deps::dependents`.)
//!
//! An edge goes from a service to each service it depends on. Dependencies on names that
//! are not in the map are ignored here (the parser refuses them). Every result is sorted by
//! name where the graph leaves a choice, so it is the same on every run.

use std::collections::{BTreeMap, VecDeque};

use super::model::ServiceSpec;

/// The graph with services numbered in name order and edges as sorted, deduplicated lists.
struct Graph<'a> {
    names: Vec<&'a str>,
    /// `deps[i]`: the services `i` depends on.
    deps: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    fn new(services: &'a BTreeMap<String, ServiceSpec>) -> Graph<'a> {
        let names: Vec<&str> = services.keys().map(String::as_str).collect();
        let index = |name: &str| names.binary_search(&name).ok();
        let deps = services
            .values()
            .map(|spec| {
                let mut d: Vec<usize> = spec
                    .depends_on
                    .iter()
                    .filter_map(|dep| index(&dep.service))
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        Graph { names, deps }
    }

    fn len(&self) -> usize {
        self.names.len()
    }

    fn names(&self, ids: impl IntoIterator<Item = usize>) -> Vec<String> {
        ids.into_iter().map(|i| self.names[i].to_string()).collect()
    }

    /// Strongly connected components (Kosaraju, iterative so long chains cannot overflow
    /// the stack), each as a list of node ids.
    fn components(&self) -> Vec<Vec<usize>> {
        let n = self.len();
        // 1. Nodes in order of DFS completion.
        let mut seen = vec![false; n];
        let mut finished = Vec::with_capacity(n);
        for root in 0..n {
            if seen[root] {
                continue;
            }
            seen[root] = true;
            let mut stack = vec![(root, 0usize)];
            while let Some((node, next)) = stack.last_mut() {
                let node = *node;
                if let Some(&dep) = self.deps[node].get(*next) {
                    *next += 1;
                    if !seen[dep] {
                        seen[dep] = true;
                        stack.push((dep, 0));
                    }
                } else {
                    finished.push(node);
                    stack.pop();
                }
            }
        }
        // 2. On the reversed graph, in reverse completion order, each search is one component.
        let mut users = vec![Vec::new(); n];
        for (node, deps) in self.deps.iter().enumerate() {
            for &dep in deps {
                users[dep].push(node);
            }
        }
        let mut component = vec![usize::MAX; n];
        let mut out = Vec::new();
        for &root in finished.iter().rev() {
            if component[root] != usize::MAX {
                continue;
            }
            let id = out.len();
            component[root] = id;
            let mut members = vec![root];
            let mut stack = vec![root];
            while let Some(node) = stack.pop() {
                for &user in &users[node] {
                    if component[user] == usize::MAX {
                        component[user] = id;
                        members.push(user);
                        stack.push(user);
                    }
                }
            }
            out.push(members);
        }
        out
    }

    /// A shortest cycle through the smallest node of `members` (a strongly connected
    /// component), staying inside it; `None` when the component has no cycle (one node
    /// without an edge to itself).
    fn cycle_in(&self, members: &[usize]) -> Option<Vec<usize>> {
        let start = *members.iter().min()?;
        if members.len() == 1 {
            return self.deps[start].contains(&start).then(|| vec![start]);
        }
        let mut inside = vec![false; self.len()];
        for &m in members {
            inside[m] = true;
        }
        // Breadth-first from `start` until an edge leads back to it.
        let mut parent = vec![usize::MAX; self.len()];
        let mut queue = VecDeque::from([start]);
        parent[start] = start;
        while let Some(node) = queue.pop_front() {
            for &dep in &self.deps[node] {
                if dep == start {
                    let mut path = vec![node];
                    let mut at = node;
                    while at != start {
                        at = parent[at];
                        path.push(at);
                    }
                    path.reverse();
                    return Some(path);
                }
                if inside[dep] && parent[dep] == usize::MAX {
                    parent[dep] = node;
                    queue.push_back(dep);
                }
            }
        }
        None
    }
}

/// Every dependency cycle, one per group of services that depend on each other in a circle
/// (strongly connected component). Each cycle starts at the smallest name of its group and
/// follows `depends_on` edges, without repeating the first service: `["a", "b", "c"]` means
/// a depends on b, b on c and c on a; `["a"]` means a depends on itself. It is a shortest
/// such cycle through that service. Cycles are sorted by their first name.
pub fn find_cycles(services: &BTreeMap<String, ServiceSpec>) -> Vec<Vec<String>> {
    let graph = Graph::new(services);
    let mut cycles: Vec<Vec<String>> = graph
        .components()
        .iter()
        .filter_map(|members| graph.cycle_in(members))
        .map(|ids| graph.names(ids))
        .collect();
    cycles.sort();
    cycles
}

/// The first of [`find_cycles`], if there is one.
pub fn find_cycle(services: &BTreeMap<String, ServiceSpec>) -> Option<Vec<String>> {
    find_cycles(services).into_iter().next()
}

/// Services in layers to start in: each service depends only on services of earlier
/// layers, and is in the earliest layer it can be. Names are sorted inside a layer.
/// Stopping goes the other way round.
///
/// Only meaningful without cycles: services in a cycle, or depending on one, come last, in
/// one extra layer. Every service appears exactly once.
pub fn start_order(services: &BTreeMap<String, ServiceSpec>) -> Vec<Vec<String>> {
    let graph = Graph::new(services);
    let n = graph.len();
    let mut users = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = graph.deps.iter().map(Vec::len).collect();
    for (node, deps) in graph.deps.iter().enumerate() {
        for &dep in deps {
            users[dep].push(node);
        }
    }
    let mut layers = Vec::new();
    let mut placed = vec![false; n];
    let mut layer: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    while !layer.is_empty() {
        let mut next = Vec::new();
        for &node in &layer {
            placed[node] = true;
            for &user in &users[node] {
                waiting[user] -= 1;
                if waiting[user] == 0 {
                    next.push(user);
                }
            }
        }
        next.sort_unstable();
        layers.push(graph.names(layer));
        layer = next;
    }
    let rest: Vec<usize> = (0..n).filter(|&i| !placed[i]).collect();
    if !rest.is_empty() {
        layers.push(graph.names(rest));
    }
    layers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Condition, Dependency};
    use proptest::prelude::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, ServiceSpec> {
        edges
            .iter()
            .map(|(name, deps)| {
                let mut spec = ServiceSpec::with_defaults(name, vec!["x".into()]);
                spec.depends_on = deps
                    .iter()
                    .map(|d| Dependency {
                        service: d.to_string(),
                        condition: Condition::Running,
                    })
                    .collect();
                (name.to_string(), spec)
            })
            .collect()
    }

    fn names(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_cycle_in_a_dag() {
        let g = graph(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("worker", &["db"]),
        ]);
        assert_eq!(find_cycle(&g), None);
        assert!(find_cycles(&g).is_empty());
        assert_eq!(find_cycle(&BTreeMap::new()), None);
    }

    #[test]
    fn finds_the_cycle_in_order_from_its_smallest_name() {
        let g = graph(&[("c", &["a"]), ("b", &["c"]), ("a", &["b"]), ("d", &["a"])]);
        assert_eq!(find_cycle(&g), Some(names(&["a", "b", "c"])));
        let g = graph(&[("x", &["y"]), ("y", &["x"])]);
        assert_eq!(find_cycle(&g), Some(names(&["x", "y"])));
    }

    #[test]
    fn self_dependency_is_a_cycle_of_one() {
        let g = graph(&[("a", &["a"]), ("b", &[])]);
        assert_eq!(find_cycle(&g), Some(names(&["a"])));
    }

    #[test]
    fn a_shortest_cycle_through_the_first_service() {
        // a -> b -> c -> d -> a, and a shortcut c -> a.
        let g = graph(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["d", "a"]),
            ("d", &["a"]),
        ]);
        assert_eq!(find_cycle(&g), Some(names(&["a", "b", "c"])));
    }

    #[test]
    fn every_separate_cycle_is_found() {
        let g = graph(&[
            ("a", &["b"]),
            ("b", &["a"]),
            ("m", &["m"]),
            ("x", &["y", "a"]),
            ("y", &["z"]),
            ("z", &["x"]),
            ("free", &["a"]),
        ]);
        assert_eq!(
            find_cycles(&g),
            vec![names(&["a", "b"]), names(&["m"]), names(&["x", "y", "z"])]
        );
    }

    #[test]
    fn unknown_dependencies_are_ignored() {
        let g = graph(&[("a", &["ghost"]), ("b", &["a", "a"])]);
        assert_eq!(find_cycle(&g), None);
        assert_eq!(start_order(&g), vec![names(&["a"]), names(&["b"])]);
    }

    #[test]
    fn start_order_in_layers() {
        let g = graph(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("worker", &["db"]),
            ("metrics", &[]),
            ("edge", &["web", "metrics"]),
        ]);
        assert_eq!(
            start_order(&g),
            vec![
                names(&["db", "metrics"]),
                names(&["cache", "worker"]),
                names(&["web"]),
                names(&["edge"]),
            ]
        );
        assert!(start_order(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn start_order_puts_cycles_last() {
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(
            start_order(&g),
            vec![names(&["d"]), names(&["a", "b", "c"])]
        );
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        let n = 50_000;
        let names: Vec<String> = (0..n).map(|i| format!("s{i:05}")).collect();
        let mut g: BTreeMap<String, ServiceSpec> = BTreeMap::new();
        for i in 0..n {
            let mut spec = ServiceSpec::with_defaults(&names[i], vec!["x".into()]);
            let dep = if i == 0 { n - 1 } else { i - 1 };
            spec.depends_on = vec![Dependency {
                service: names[dep].clone(),
                condition: Condition::Running,
            }];
            g.insert(names[i].clone(), spec);
        }
        assert_eq!(find_cycle(&g).map(|c| c.len()), Some(n));
        g.get_mut(&names[0]).unwrap().depends_on.clear();
        assert_eq!(find_cycle(&g), None);
        assert_eq!(start_order(&g).len(), n);
    }

    #[test]
    fn dependents_are_direct_only() {
        let g = graph(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("worker", &["db", "db"]),
        ]);
        let of = crate::deps::dependents(&g);
        assert_eq!(of["db"], names(&["cache", "web", "worker"]));
        assert_eq!(of["cache"], names(&["web"]));
        assert!(!of.contains_key("web"));
        assert!(!of.contains_key("ghost"));
    }

    /// A random acyclic graph: service `i` may depend only on services with a smaller
    /// index, and the names are shuffled so index order is not name order.
    fn acyclic() -> impl Strategy<Value = BTreeMap<String, ServiceSpec>> {
        (1usize..40)
            .prop_flat_map(|n| {
                let edges = proptest::collection::vec(
                    proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
                    n,
                );
                let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
                (edges, order)
            })
            .prop_map(|(edges, order)| {
                let name = |i: usize| format!("svc{}", order[i]);
                let mut g = BTreeMap::new();
                for (i, picks) in edges.iter().enumerate() {
                    let mut spec = ServiceSpec::with_defaults(&name(i), vec!["x".into()]);
                    if i > 0 {
                        spec.depends_on = picks
                            .iter()
                            .map(|p| Dependency {
                                service: name(p.index(i)),
                                condition: Condition::Started,
                            })
                            .collect();
                    }
                    g.insert(name(i), spec);
                }
                g
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn start_order_respects_every_edge(g in acyclic()) {
            prop_assert_eq!(find_cycle(&g), None);
            let layers = start_order(&g);
            let mut layer_of = BTreeMap::new();
            for (i, layer) in layers.iter().enumerate() {
                prop_assert!(!layer.is_empty());
                prop_assert!(layer.windows(2).all(|w| w[0] < w[1]), "{:?}", layer);
                for name in layer {
                    prop_assert!(layer_of.insert(name.clone(), i).is_none(), "{} twice", name);
                }
            }
            prop_assert_eq!(layer_of.len(), g.len());
            for (name, spec) in &g {
                let mine = layer_of[name];
                for dep in &spec.depends_on {
                    prop_assert!(layer_of[&dep.service] < mine, "{} -> {}", name, dep.service);
                }
                // Earliest possible: a service not in the first layer has a dependency in
                // the layer just before it.
                if mine > 0 {
                    prop_assert!(spec.depends_on.iter().any(|d| layer_of[&d.service] == mine - 1));
                }
                for user in crate::deps::dependents(&g).get(name).into_iter().flatten() {
                    prop_assert!(g[user].depends_on.iter().any(|d| &d.service == name));
                }
            }
        }

        #[test]
        fn an_added_back_edge_makes_a_cycle(g in acyclic(), pick in any::<proptest::sample::Index>()) {
            // Close a cycle: pick a service with a dependency and make that one depend back.
            let with_deps: Vec<&ServiceSpec> =
                g.values().filter(|s| !s.depends_on.is_empty()).collect();
            prop_assume!(!with_deps.is_empty());
            let from = with_deps[pick.index(with_deps.len())].clone();
            let to = from.depends_on[0].service.clone();
            let mut g = g;
            g.get_mut(&to).unwrap().depends_on.push(Dependency {
                service: from.name.clone(),
                condition: Condition::Running,
            });
            let cycle = find_cycle(&g).expect("a cycle");
            prop_assert!(cycle.contains(&from.name) && cycle.contains(&to), "{:?}", cycle);
            for (i, name) in cycle.iter().enumerate() {
                let next = &cycle[(i + 1) % cycle.len()];
                prop_assert!(g[name].depends_on.iter().any(|d| &d.service == next));
            }
            prop_assert_eq!(cycle.iter().min(), cycle.first());
        }
    }
}
