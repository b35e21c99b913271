//! `[[task]]`: commands run in order before any service starts.

use super::*;

/// A task's own keys, besides the [`PROCESS_KEYS`] it shares with services.
const TASK_KEYS: &[&str] = &["name", "timeout", "mode", "on_failure"];
/// How long a task may run when `timeout` is not given (background tasks: for ever).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

impl Checker<'_> {
    pub(super) fn tasks(&mut self, v: &Value<'_>, out: &mut Vec<TaskSpec>) {
        let items = match v.get_ref() {
            DeValue::Array(items) => items,
            DeValue::Table(_) => {
                let message = "`task` must be an array of tables, found a table";
                let help = "write each task as `[[task]]`, with two brackets: tasks are a list, \
                            run in order";
                self.error(v.span(), message, Some(help.into()));
                return;
            }
            _ => {
                let help = "write each task as a `[[task]]` table with a `name` and a `command`";
                self.mismatch(v, "task", "an array of tables", Some(help.into()));
                return;
            }
        };
        // name -> where it was first given
        let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            self.process_spans.clear();
            if let Some(task) = self.task(item, i, &mut seen) {
                self.keep_references(Owner::Task(task.name.clone()));
                out.push(task);
            }
        }
    }

    fn task(
        &mut self,
        v: &Value<'_>,
        i: usize,
        seen: &mut BTreeMap<String, Range<usize>>,
    ) -> Option<TaskSpec> {
        let DeValue::Table(table) = v.get_ref() else {
            let help = "e.g. `{ name = \"migrate\", command = [\"migrate\"] }`".to_string();
            self.mismatch(v, &format!("task[{i}]"), "a table", Some(help));
            return None;
        };
        let before = self.diags.len();
        let place = match table.get("name").map(Spanned::get_ref) {
            Some(DeValue::String(name)) => format!("in task `{name}`"),
            _ => format!("in `task[{i}]`"),
        };
        let known = [PROCESS_KEYS, TASK_KEYS].concat();
        let mut process = ProcessSpec::default();
        let mut name = None;
        let mut timeout = None;
        let mut mode = TaskMode::EveryStart;
        let mut on_failure = None;
        let mut timeout_span = None;
        for (key, value) in table.iter() {
            let k = key.get_ref().as_ref();
            if self.broken(key, value) || self.process_key(k, value, &mut process) {
                continue;
            }
            match k {
                "name" => name = self.task_name(value, seen),
                "timeout" => {
                    timeout = self.duration(value, "timeout").map(Some);
                    timeout_span = Some(key.span());
                }
                "mode" => {
                    let choices = [
                        ("every-start", TaskMode::EveryStart),
                        ("once", TaskMode::Once),
                        ("background", TaskMode::Background),
                    ];
                    if let Some(m) = self.choice(value, "mode", &choices) {
                        mode = m;
                    }
                }
                "on_failure" => {
                    let choices = [
                        ("abort", TaskFailure::Abort),
                        ("continue", TaskFailure::Continue),
                    ];
                    let choice = self.choice(value, "on_failure", &choices);
                    on_failure = Some((key.span(), choice));
                }
                _ => self.unknown_key(key, value, &known, &place),
            }
        }
        // A key the TOML parser dropped is not also reported missing.
        let section_broken = self.syntax_error_in_section(v.span().start);
        if table.get("name").is_none() && !section_broken {
            let help = "add one, e.g. `name = \"migrate\"`: it names the task in logs and status";
            self.error(v.span(), "a task has no `name`", Some(help.into()));
        }
        if table.get("command").is_none() && !section_broken {
            let what = match table.get("name").map(Spanned::get_ref) {
                Some(DeValue::String(name)) => format!("task `{name}`"),
                _ => "a task".to_string(),
            };
            let help = "add the program to run, e.g. `command = [\"migrate\", \"--up\"]`";
            self.error(
                v.span(),
                format!("{what} has no `command`"),
                Some(help.into()),
            );
        }
        if let (TaskMode::Background, Some((span, _))) = (mode, &on_failure) {
            self.error(
                span.clone(),
                "`on_failure` means nothing with `mode = \"background\"`: steward does not wait \
                 for a background task, and restarts it when it fails",
                Some("remove `on_failure`".into()),
            );
        }
        if let (TaskMode::Background, Some(span)) = (mode, &timeout_span) {
            self.error(
                span.clone(),
                "`timeout` means nothing with `mode = \"background\"`: a background task runs \
                 for as long as steward does",
                Some("remove `timeout`".into()),
            );
        }
        if self.diags.len() != before {
            return None;
        }
        let timeout = match timeout {
            // "0s": no limit.
            Some(t) => t.filter(|d| !d.is_zero()),
            None if mode == TaskMode::Background => None,
            None => Some(DEFAULT_TIMEOUT),
        };
        Some(TaskSpec {
            name: name?,
            process,
            timeout,
            mode,
            on_failure: on_failure
                .and_then(|(_, f)| f)
                .unwrap_or(TaskFailure::Abort),
        })
    }

    /// A task's `name`: a valid name, unique among tasks and not a service's.
    fn task_name(
        &mut self,
        v: &Value<'_>,
        seen: &mut BTreeMap<String, Range<usize>>,
    ) -> Option<String> {
        let name = self.string(v, "name")?.to_string();
        if let Some(why) = bad_name("task", &name) {
            self.error(v.span(), why, Some(TASK_NAME_HELP.into()));
            return None;
        }
        if let Some(first) = seen.get(&name) {
            let line = self.source[..first.start].matches('\n').count() + 1;
            let message = format!("there are two tasks named `{name}`");
            let help = format!("task names must be unique; the other one is on line {line}");
            self.error(v.span(), message, Some(help));
            return None;
        }
        seen.insert(name.clone(), v.span());
        if self.service_names.contains(&name) {
            let message = format!("task `{name}` has the same name as a service");
            let help = "tasks and services share their names, because background tasks are \
                        shown in status next to services; rename one of them";
            self.error(v.span(), message, Some(help.into()));
            return None;
        }
        Some(name)
    }
}
