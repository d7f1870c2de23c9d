//! `foresight backup`, `restore` and `verify`: the command-line side of `foresight_engine::snapshot`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use foresight_engine::Db;
use foresight_engine::snapshot::{self, Severity, VerifyReport};

/// `foresight backup DIR`'s flags.
#[derive(Debug, clap::Args)]
pub(crate) struct BackupArgs {
    /// Directory holding the backups: each one is a snapshot in `DIR/<name>`; blocks identical to
    /// a backup already there are hard-linked to it instead of copied (incremental backups).
    pub(crate) dir: PathBuf,
    /// A running server to ask for a snapshot (`POST /api/v1/admin/snapshot`), e.g.
    /// `http://127.0.0.1:8086`; the snapshot it writes under its data directory (on this machine)
    /// is copied into DIR, checked against its manifest, then removed. Without it, the data
    /// directory (`--data-dir`) of a stopped server is opened and snapshotted directly.
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// Credential sent as `Authorization: Bearer <token>` (an admin token, when tokens are on).
    #[arg(long, env = "FORESIGHT_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Leave the server's snapshot in its data directory after copying it.
    #[arg(long, requires = "url")]
    pub(crate) keep_server_snapshot: bool,
}

/// Runs `foresight backup`.
pub(crate) fn backup(args: &BackupArgs, open: impl FnOnce() -> Result<Db>) -> Result<()> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let earlier = snapshot::complete_snapshots(&args.dir);
    let info = match &args.url {
        Some(url) => {
            let (name, path) = ask_snapshot(url, args.token.as_deref())?;
            let dest = args.dir.join(&name);
            let info = snapshot::copy(&path, &dest, &earlier)
                .with_context(|| format!("copying the server's snapshot {} to {}", path.display(), dest.display()))?;
            if !args.keep_server_snapshot {
                std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
            }
            info
        }
        None => {
            let db = open().context("opening the data directory (if a server runs on it, pass --url)")?;
            let dest = args.dir.join(snapshot::new_name());
            let info = db.snapshot(&dest, &earlier)?;
            db.close()?;
            info
        }
    };
    println!(
        "backup {}: {} files, {} bytes ({} hard-linked, {} reused from earlier backups, {} copied)",
        info.dir.display(),
        info.files,
        info.bytes,
        info.linked,
        info.reused,
        info.copied
    );
    Ok(())
}

/// Asks a running server for a snapshot; returns its name and path.
fn ask_snapshot(url: &str, token: Option<&str>) -> Result<(String, PathBuf)> {
    let endpoint = format!("{}/api/v1/admin/snapshot", url.trim_end_matches('/'));
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(600)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut req = agent.post(&endpoint);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut resp = req.send_empty().with_context(|| format!("POST {endpoint}"))?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .with_context(|| format!("reading the answer of {endpoint}"))?;
    if !status.is_success() {
        bail!("POST {endpoint}: {status}: {}", body.trim());
    }
    let v: serde_json::Value = serde_json::from_str(&body).with_context(|| format!("answer of {endpoint}: {body}"))?;
    let (Some(name), Some(path)) = (v["data"]["name"].as_str(), v["data"]["path"].as_str()) else {
        bail!("answer of {endpoint} has no data.name and data.path: {body}");
    };
    Ok((name.to_owned(), PathBuf::from(path)))
}

/// Runs `foresight restore`.
pub(crate) fn restore(src: &Path, data_dir: &Path, force: bool) -> Result<()> {
    let r = snapshot::restore(src, data_dir, force)
        .with_context(|| format!("restoring {} into {}", src.display(), data_dir.display()))?;
    let how = if r.replaced {
        " (replaced its previous content)"
    } else {
        ""
    };
    println!(
        "restored {} files, {} bytes into {}{how}",
        r.files,
        r.bytes,
        r.target.display()
    );
    Ok(())
}

/// Runs `foresight verify`; false when an error was found.
pub(crate) fn verify(dir: &Path) -> Result<bool> {
    let rep: VerifyReport = snapshot::verify(dir)?;
    for p in &rep.problems {
        println!("{p}");
    }
    if rep.truncated {
        println!(
            "(more problems not shown; only the first {} are reported)",
            snapshot::MAX_PROBLEMS
        );
    }
    let errors = rep.problems.iter().filter(|p| p.severity == Severity::Error).count();
    let kind = if rep.snapshot { "snapshot" } else { "data directory" };
    println!(
        "{kind} {}: {} blocks, {} WAL segments ({} records) checked; {errors} errors, {} warnings",
        dir.display(),
        rep.blocks,
        rep.wal_segments,
        rep.wal_records,
        rep.problems.len() - errors
    );
    Ok(rep.is_ok())
}
