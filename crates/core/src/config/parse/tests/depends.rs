//! `depends_on` and dependency cycles.

use super::*;

fn dep(service: &str, condition: Condition) -> Dependency {
    Dependency {
        service: service.into(),
        condition,
    }
}

/// `[service.db]` and `[service.web]`, then `line` in web's table (line 5).
fn web_with(line: &str) -> String {
    format!("[service.db]\ncommand = [\"db\"]\n[service.web]\ncommand = [\"web\"]\n{line}\n")
}

#[test]
fn forms_and_defaults() {
    let src = r#"
[service.db]
command = ["db"]

[service.cache]
command = ["cache"]

[service.migrate]
command = ["migrate"]
restart = "never"

[service.web]
command = ["web"]
depends_on = [
  "db",
  { service = "cache", condition = "started" },
  { service = "migrate", condition = "completed" },
]
"#;
    let c = ok(src);
    assert!(c.services["db"].depends_on.is_empty());
    assert_eq!(
        c.services["web"].depends_on,
        vec![
            dep("db", Condition::Running),
            dep("cache", Condition::Started),
            dep("migrate", Condition::Completed),
        ]
    );
    let c = ok(&web_with("depends_on = [{ service = \"db\" }]"));
    assert_eq!(
        c.services["web"].depends_on,
        vec![dep("db", Condition::Running)]
    );
    let c = ok(&web_with(
        "depends_on = [{ service = \"db\", condition = \"running\" }]",
    ));
    assert_eq!(
        c.services["web"].depends_on,
        vec![dep("db", Condition::Running)]
    );
    // The order of the tables does not matter.
    let c = ok(
        "[service.b]\ncommand = [\"b\"]\ndepends_on = [\"z\"]\n[service.z]\ncommand = [\"z\"]\n",
    );
    assert_eq!(
        c.services["b"].depends_on,
        vec![dep("z", Condition::Running)]
    );
    // Array-of-tables syntax works too.
    let c = ok(&web_with(
        "[[service.web.depends_on]]\nservice = \"db\"\ncondition = \"started\"",
    ));
    assert_eq!(
        c.services["web"].depends_on,
        vec![dep("db", Condition::Started)]
    );
    // An empty list is no dependency.
    let c = ok(&web_with("depends_on = []"));
    assert!(c.services["web"].depends_on.is_empty());
}

#[test]
fn unknown_services() {
    let p = problem(&web_with("depends_on = [\"dbb\"]"));
    assert_eq!((p.0, p.1), (5, 15));
    assert_eq!(
        p.2,
        "`depends_on` names `dbb`, which is not a service in this file"
    );
    assert_eq!(p.3.as_deref(), Some("did you mean `db`?"));

    let p = problem(&web_with("depends_on = [\"postgres\"]"));
    assert_eq!(
        p.3.as_deref(),
        Some("the services in this file are `db`, `web`")
    );

    // In the table form, the name is pointed at.
    let p = problem(&web_with("depends_on = [{ service = \"cach\" }]"));
    assert_eq!((p.0, p.1), (5, 27));
    assert_eq!(
        p.2,
        "`depends_on` names `cach`, which is not a service in this file"
    );

    // A task is not a service.
    let src = format!(
        "{}[[task]]\nname = \"migrate\"\ncommand = [\"m\"]\n",
        web_with("depends_on = [\"migrate\"]")
    );
    let p = problem(&src);
    assert_eq!((p.0, p.1), (5, 15));
    assert!(p.3.unwrap().starts_with("`migrate` is a `[[task]]`"));

    // Many services: not all listed.
    let mut src = String::new();
    for i in 0..10 {
        src.push_str(&format!("[service.s{i}]\ncommand = [\"x\"]\n"));
    }
    src.push_str("[service.web]\ncommand = [\"web\"]\ndepends_on = [\"postgres\"]\n");
    let p = problem(&src);
    assert_eq!(
        p.3.as_deref(),
        Some("`depends_on` names services defined in this file as `[service.NAME]`")
    );
}

#[test]
fn a_service_with_problems_is_still_known() {
    // `db` has its own problem; depending on it is not one more.
    let p = problem(
        "[service.db]\ncommand = [\"db\"]\ninstances = -1\n[service.web]\ncommand = [\"web\"]\ndepends_on = [\"db\"]\n",
    );
    assert_eq!((p.0, p.1), (3, 13));
    let p = problem(
        "[service.\"bad name\"]\ncommand = [\"x\"]\n[service.web]\ncommand = [\"web\"]\ndepends_on = [\"bad name\"]\n",
    );
    assert_eq!((p.0, p.1), (1, 10));
}

#[test]
fn self_and_twice() {
    let p = problem(&web_with("depends_on = [\"web\"]"));
    assert_eq!((p.0, p.1), (5, 15));
    assert_eq!(p.2, "service `web` cannot depend on itself");
    assert_eq!(p.3.as_deref(), Some("remove it from `depends_on`"));

    let p = problem(&web_with(
        "depends_on = [\"db\", { service = \"db\", condition = \"started\" }]",
    ));
    assert_eq!((p.0, p.1), (5, 33));
    assert_eq!(p.2, "`db` is listed twice in `depends_on`");
    assert_eq!(p.3.as_deref(), Some("keep one entry for each service"));
}

#[test]
fn entry_errors() {
    let p = problem(&web_with("depends_on = \"db\""));
    assert_eq!((p.0, p.1), (5, 14));
    assert_eq!(p.2, "`depends_on` must be an array, found a string");
    assert_eq!(
        p.3.as_deref(),
        Some("wrap it in a list: `depends_on = [\"db\"]`")
    );

    let p = problem(&web_with("depends_on = { service = \"db\" }"));
    assert_eq!(
        p.3.as_deref(),
        Some("wrap it in a list: `depends_on = [{ service = \"db\" }]`")
    );
    let p = problem(&web_with("[service.web.depends_on]\nservice = \"db\""));
    assert_eq!((p.0, p.1), (5, 1));
    assert_eq!(p.2, "`depends_on` must be an array, found a table");
    assert_eq!(
        p.3.as_deref(),
        Some("e.g. `depends_on = [\"db\", { service = \"cache\", condition = \"started\" }]`")
    );

    let p = problem(&web_with("depends_on = [1]"));
    assert_eq!((p.0, p.1), (5, 15));
    assert_eq!(
        p.2,
        "`depends_on[0]` must be a service name or a table, found an integer"
    );

    let p = problem(&web_with("depends_on = [{ condition = \"started\" }]"));
    assert_eq!((p.0, p.1), (5, 15));
    assert_eq!(p.2, "`depends_on[0]` has no `service`");
    assert_eq!(
        p.3.as_deref(),
        Some("e.g. `{ service = \"db\", condition = \"started\" }`")
    );

    let p = problem(&web_with(
        "depends_on = [{ service = \"db\", condition = \"ready\" }]",
    ));
    assert_eq!((p.0, p.1), (5, 45));
    assert_eq!(
        p.2,
        "`depends_on[0].condition` must be \"started\", \"running\" or \"completed\", found \
         \"ready\""
    );

    let p = problem(&web_with(
        "depends_on = [\"db\", { service = \"db\", conditon = \"started\" }]",
    ));
    assert_eq!((p.0, p.1), (5, 39));
    assert_eq!(p.2, "unknown key `conditon` in `depends_on[1]`");
    assert_eq!(p.3.as_deref(), Some("did you mean `condition`?"));
}

#[test]
fn a_cycle_is_named_in_order() {
    let src = r#"[service.b]
command = ["b"]
depends_on = ["c"]
[service.a]
command = ["a"]
depends_on = ["x", "b"]
[service.c]
command = ["c"]
depends_on = [{ service = "a", condition = "started" }]
[service.x]
command = ["x"]
"#;
    let p = problem(src);
    assert_eq!((p.0, p.1), (6, 20));
    assert_eq!(p.2, "dependency cycle: a -> b -> c -> a");
    assert_eq!(
        p.3.as_deref(),
        Some(
            "each service waits for the next, so none could start; remove one of these \
             dependencies"
        )
    );
}

#[test]
fn every_cycle_is_reported() {
    let src = r#"[service.a]
command = ["a"]
depends_on = ["b"]
[service.b]
command = ["b"]
depends_on = ["a"]
[service.m]
command = ["m"]
depends_on = ["n"]
[service.n]
command = ["n"]
depends_on = ["m", "a"]
"#;
    let ps = problems(src);
    let got: Vec<(usize, usize, &str)> = ps.iter().map(|p| (p.0, p.1, p.2.as_str())).collect();
    assert_eq!(
        got,
        [
            (3, 15, "dependency cycle: a -> b -> a"),
            (9, 15, "dependency cycle: m -> n -> m"),
        ]
    );
}
