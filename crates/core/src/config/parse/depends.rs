//! `depends_on`, and the check that the services' dependencies have no cycle.

use super::*;
use crate::config::graph;

const DEPENDENCY_KEYS: &[&str] = &["service", "condition"];
const DEPENDENCY_EXAMPLE: &str = "{ service = \"db\", condition = \"started\" }";
/// Up to this many services, a reference to an unknown one lists them all.
const LIST_SERVICES_UP_TO: usize = 8;

impl Checker<'_> {
    /// The `depends_on` array of service `me`.
    pub(super) fn depends_on(&mut self, me: &str, v: &Value<'_>) -> Option<Vec<Dependency>> {
        let items = match v.get_ref() {
            DeValue::Array(items) => items,
            // Inline, so the text can be shown in brackets (not a `[table]` header).
            DeValue::String(_) | DeValue::Table(_) if !self.source[v.span()].starts_with('[') => {
                let help = format!(
                    "wrap it in a list: `depends_on = [{}]`",
                    &self.source[v.span()]
                );
                self.mismatch(v, "depends_on", "an array", Some(help));
                return None;
            }
            _ => {
                let help =
                    "e.g. `depends_on = [\"db\", { service = \"cache\", condition = \"started\" }]`"
                        .to_string();
                self.mismatch(v, "depends_on", "an array", Some(help));
                return None;
            }
        };
        let before = self.diags.len();
        let mut out: Vec<Dependency> = Vec::with_capacity(items.len());
        let mut spans = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Some((service, span, condition)) = self.dependency(item, i) else {
                continue;
            };
            if service == me {
                let message = format!("service `{me}` cannot depend on itself");
                self.error(span, message, Some("remove it from `depends_on`".into()));
                continue;
            }
            if !self.service_names.contains(&service) {
                let help = self.unknown_service_help(&service);
                let message =
                    format!("`depends_on` names `{service}`, which is not a service in this file");
                self.error(span, message, Some(help));
                continue;
            }
            if out.iter().any(|d| d.service == service) {
                let message = format!("`{service}` is listed twice in `depends_on`");
                let help = "keep one entry for each service".to_string();
                self.error(span, message, Some(help));
                continue;
            }
            spans.push((service.clone(), span));
            out.push(Dependency { service, condition });
        }
        self.dependency_spans.insert(me.to_string(), spans);
        (self.diags.len() == before).then_some(out)
    }

    /// One `depends_on` entry: the service it names, where that name is, and the condition.
    fn dependency(&mut self, v: &Value<'_>, i: usize) -> Option<(String, Range<usize>, Condition)> {
        let name = format!("depends_on[{i}]");
        let table = match v.get_ref() {
            DeValue::String(s) => return Some((s.to_string(), v.span(), Condition::Running)),
            DeValue::Table(table) => table,
            _ => {
                let help = format!("e.g. `\"db\"` or `{DEPENDENCY_EXAMPLE}`");
                let expected = "a service name or a table";
                self.mismatch(v, &name, expected, Some(help));
                return None;
            }
        };
        let before = self.diags.len();
        let mut service = None;
        let mut condition = Condition::Running;
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            match key.get_ref().as_ref() {
                "service" => {
                    let field = format!("{name}.service");
                    service = self
                        .string(value, &field)
                        .map(|s| (s.to_string(), value.span()));
                }
                "condition" => {
                    let choices = [
                        ("started", Condition::Started),
                        ("running", Condition::Running),
                        ("completed", Condition::Completed),
                    ];
                    let field = format!("{name}.condition");
                    if let Some(c) = self.choice(value, &field, &choices) {
                        condition = c;
                    }
                }
                _ => self.unknown_key(key, value, DEPENDENCY_KEYS, &format!("in `{name}`")),
            }
        }
        if table.get("service").is_none() {
            let message = format!("`{name}` has no `service`");
            self.error(
                v.span(),
                message,
                Some(format!("e.g. `{DEPENDENCY_EXAMPLE}`")),
            );
        }
        if self.diags.len() != before {
            return None;
        }
        let (service, span) = service?;
        Some((service, span, condition))
    }

    fn unknown_service_help(&self, service: &str) -> String {
        let names: Vec<&str> = self.service_names.iter().map(String::as_str).collect();
        if let Some(help) = did_you_mean(service, &names) {
            return help;
        }
        if self.task_names.iter().any(|t| t == service) {
            return format!(
                "`{service}` is a `[[task]]`: a service cannot depend on a task, but tasks \
                 (other than background ones) finish before any service starts"
            );
        }
        if names.len() <= LIST_SERVICES_UP_TO {
            format!("the services in this file are {}", key_list(&names))
        } else {
            "`depends_on` names services defined in this file as `[service.NAME]`".into()
        }
    }

    /// Reports every dependency cycle, at the entry of the first service's `depends_on` that
    /// leads on around the cycle. Every entry that is valid on its own counts, even in a
    /// service with other problems, so a cycle is reported together with them.
    pub(super) fn dependency_cycles(&mut self) {
        let services: BTreeMap<String, ServiceSpec> = self
            .dependency_spans
            .iter()
            .map(|(name, deps)| {
                let mut spec = ServiceSpec::with_defaults(name, Vec::new());
                spec.depends_on = deps
                    .iter()
                    .map(|(service, _)| Dependency {
                        service: service.clone(),
                        condition: Condition::Running,
                    })
                    .collect();
                (name.clone(), spec)
            })
            .collect();
        for cycle in graph::find_cycles(&services) {
            let first = &cycle[0];
            let next = cycle.get(1).unwrap_or(first);
            let Some(span) = self.dependency_spans.get(first).and_then(|spans| {
                spans
                    .iter()
                    .find(|(service, _)| service == next)
                    .map(|(_, span)| span.clone())
            }) else {
                continue;
            };
            let mut path = cycle.clone();
            path.push(first.clone());
            let message = format!("dependency cycle: {}", path.join(" -> "));
            let help = "each service waits for the next, so none could start; remove one of \
                        these dependencies";
            self.error(span, message, Some(help.into()));
        }
    }
}
