//! Runs every `tests/cases/*.test` file (see `script.rs` for the language).

use std::path::Path;

use foresight_promql::{Engine, MemStorage};

use crate::script::{Cmd, load_into, parse_script, run_eval};

#[test]
fn query_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let engine = Engine::default();
    let mut total = 0;
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read case file");
        let cmds = parse_script(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut db = MemStorage::new();
        for c in cmds {
            match c {
                Cmd::Load(step, series) => load_into(&mut db, step, series),
                Cmd::Clear => db = MemStorage::new(),
                Cmd::Eval(e) => {
                    total += 1;
                    if let Err(msg) = run_eval(&engine, &db, &e) {
                        failures.push(format!(
                            "{}:{}: {}\n    {msg}",
                            f.file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default(),
                            e.line,
                            e.query
                        ));
                    }
                }
            }
        }
    }
    eprintln!("{total} query cases in {} files", files.len());
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 150, "only {total} query cases");
}
