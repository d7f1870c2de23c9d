//! `foresight rules test` and `foresight rules check` on the corpus in `tests/rules/`, each
//! file also run through promtool (`test rules`, `check rules`), which must give the same
//! verdict (and, for tests, the same report). Files named `fail_*` / `invalid*` must fail.
//! promtool missing: foresight's verdicts are still checked, promtool's skipped with a notice
//! (a failure when `FORESIGHT_REQUIRE_TOOLS` is set, as in CI).

// The helpers below are test code too.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::tool_missing;
use crate::promtool::promtool_present;

fn corpus(suffix: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn run(program: &str, args: &[&str], file: &Path) -> Output {
    // Run from the corpus directory with the bare name, so both tools print the same path.
    Command::new(program)
        .args(args)
        .arg(file.file_name().unwrap())
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap()
}

fn must_fail(file: &Path) -> bool {
    let name = file.file_name().unwrap().to_string_lossy();
    name.starts_with("fail_") || name.starts_with("invalid")
}

#[test]
fn rule_unit_tests_agree_with_promtool() {
    let files = corpus("_test.yml");
    assert!(files.len() >= 6, "{files:?}");
    let promtool = promtool_present();
    if !promtool {
        tool_missing("promtool not found (apt-get install prometheus)");
    }
    for f in &files {
        let ours = run(env!("CARGO_BIN_EXE_foresight"), &["rules", "test"], f);
        let text = String::from_utf8_lossy(&ours.stdout);
        let failures = String::from_utf8_lossy(&ours.stderr);
        assert_eq!(
            ours.status.success(),
            !must_fail(f),
            "{}: {text}{failures}",
            f.display()
        );
        if must_fail(f) {
            assert!(failures.starts_with("  FAILED:\n") && failures.len() > 12, "{failures}");
        } else {
            assert!(text.contains("  SUCCESS\n"), "{text}");
        }
        if promtool {
            let theirs = run("promtool", &["test", "rules"], f);
            assert_eq!(
                theirs.status.success(),
                ours.status.success(),
                "{}: promtool disagrees",
                f.display()
            );
            assert_eq!(
                String::from_utf8_lossy(&theirs.stdout),
                text,
                "{}: reports differ",
                f.display()
            );
        }
    }
}

#[test]
fn rule_checks_agree_with_promtool() {
    let files: Vec<PathBuf> = corpus(".yml")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with("_test.yml"))
        .collect();
    assert!(
        files.iter().any(|f| must_fail(f)) && files.iter().any(|f| !must_fail(f)),
        "{files:?}"
    );
    let promtool = promtool_present();
    for f in &files {
        let ours = run(env!("CARGO_BIN_EXE_foresight"), &["rules", "check"], f);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&ours.stderr)
        );
        assert_eq!(ours.status.success(), !must_fail(f), "{}: {text}", f.display());
        if must_fail(f) {
            // Every problem, each with its position.
            for want in [
                "invalid.yml:6:11: group \"broken\", rule 1, \"job:errors{code=\\\"5xx\\\"}\": could not parse expression",
                "braces present in the recording rule name",
                "invalid.yml:7:5: group \"broken\", rule 2, \"NoExpr\": field 'expr' must be set in rule",
                "annotation \"summary\": template: __alert_NoExpr:1: unexpected EOF in if",
            ] {
                assert!(text.contains(want), "{want} not in {text}");
            }
        }
        if promtool {
            let theirs = run("promtool", &["check", "rules"], f);
            assert_eq!(
                theirs.status.success(),
                ours.status.success(),
                "{}: promtool disagrees",
                f.display()
            );
        }
    }
}
