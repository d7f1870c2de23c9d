//! Format fixtures: a block file and a WAL segment written once from a fixed dataset and committed
//! under `engine/tests/fixtures/`, named by format version (`block-v1.block`,
//! `wal-v1/shard-000/0000000001.wal`).
//!
//! Every build must read every committed fixture back to the exact dataset (old data stays
//! readable), and must write the dataset to the same bytes as the current version's fixture (a
//! change of the on-disk format cannot slip in unnoticed). A deliberate format change bumps
//! `BLOCK_VERSION` or `WAL_VERSION`, keeps a reader for the old version, and adds a fixture for the
//! new one with `cargo test -p foresight-engine -- --ignored write_format_fixtures`.

use std::fs;
use std::path::{Path, PathBuf};

use super::{BLOCK_FOOTER_LEN, BLOCK_VERSION, WAL_VERSION};
use crate::block;
use crate::db::Db;
use crate::lineproto::Precision;
use crate::model::{Labels, MatchOp, Series, matcher};
use crate::options::{Durability, Options};
use crate::shard::partition_of;

const CHANGED: &str = "the on-disk format changed: bump BLOCK_VERSION / the WAL version (engine/src/format.rs, \
                       docs/format.md), keep a reader for the old version and add a new fixture";

/// Start of the dataset's 2 h partition.
const T0: i64 = 1_699_999_200_000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn block_fixture(version: u32) -> PathBuf {
    fixtures().join(format!("block-v{version}.block"))
}

fn wal_fixture(version: u32) -> PathBuf {
    fixtures().join(format!("wal-v{version}/shard-000/0000000001.wal"))
}

/// Three series, 40 samples each, in one partition: short decimals (stored as scaled integers),
/// values that are not (bit-exact fallback), irregular intervals, label values needing escapes.
fn dataset() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out = Vec::new();
    for (host, region) in [("a", "eu-west"), ("b", "us east"), ("c,\u{e9}=1", "ap")] {
        let labels = Labels::new([("__name__", "cpu_usage"), ("host", host), ("region", region)]);
        let samples = (0..40i64)
            .map(|i| {
                let t = T0 + i * 10_000 + (i % 3) * 7;
                let v = match host {
                    "a" => 1.5 + (i as f64) * 0.25,
                    "b" => (i as f64) * 0.1 + 0.2,
                    _ => -1e6 + (i * i) as f64,
                };
                (t, v)
            })
            .collect();
        out.push((labels, samples));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The dataset as line protocol (`cpu,host=..,region=.. usage=v t`), in milliseconds.
fn dataset_lines() -> Vec<u8> {
    let escape = |s: &str| s.replace(',', "\\,").replace('=', "\\=").replace(' ', "\\ ");
    let mut body = String::new();
    for i in 0..40 {
        for (labels, samples) in dataset() {
            let (t, v) = samples[i];
            let tag = |n: &str| escape(labels.get(n).unwrap_or_default());
            body.push_str(&format!(
                "cpu,host={},region={} usage={v:?} {t}\n",
                tag("host"),
                tag("region")
            ));
        }
    }
    body.into_bytes()
}

fn options() -> Options {
    Options {
        shards: 1,
        durability: Durability::None,
        background_flush: false,
        ..Options::default()
    }
}

/// Everything in the database, compared with the dataset bit for bit.
fn check_contents(db: &Db, what: &str) {
    let all: Vec<Series> = db
        .select(
            &[matcher(MatchOp::RegexMatch, "__name__", ".+").unwrap()],
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    let got: Vec<(Labels, Vec<(i64, u64)>)> = all
        .into_iter()
        .map(|s| (s.labels, s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()))
        .collect();
    let want: Vec<(Labels, Vec<(i64, u64)>)> = dataset()
        .into_iter()
        .map(|(l, s)| (l, s.iter().map(|&(t, v)| (t, v.to_bits())).collect()))
        .collect();
    assert_eq!(got, want, "{what}: read back differs from the dataset");
}

fn write_block(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    block::write(dir, 1, partition_of(T0, options().partition_ms), true, &dataset())
        .unwrap()
        .path
}

fn write_wal(dir: &Path) -> PathBuf {
    let db = Db::open(dir, options()).unwrap();
    let lines = dataset_lines();
    // The first tick alone (one sample per series: a rows record), then the rest (grouped columns).
    let first_tick = lines
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(2)
        .map_or(0, |(i, _)| i + 1);
    for part in [&lines[..first_tick], &lines[first_tick..]] {
        let r = db.write_lines_at(part, Precision::Milliseconds, 0).unwrap();
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    }
    db.close().unwrap();
    dir.join("wal/shard-000/0000000001.wal")
}

/// Versions of the committed fixtures named `<prefix><version><suffix>` in `dir`.
fn versions(dir: &Path, prefix: &str, suffix: &str) -> Vec<u32> {
    let mut v: Vec<u32> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn every_block_fixture_reads_back() {
    let found = versions(&fixtures(), "block-v", ".block");
    assert!(
        found.contains(&BLOCK_VERSION),
        "no fixture for block version {BLOCK_VERSION}: {found:?}"
    );
    for version in found {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("blocks")).unwrap();
        fs::copy(
            block_fixture(version),
            dir.path().join("blocks").join(block::file_name(1)),
        )
        .unwrap();
        let db = Db::open(dir.path(), options()).unwrap();
        let quarantined = &db.open_report().quarantined;
        assert!(quarantined.is_empty(), "block v{version} quarantined: {quarantined:?}");
        assert_eq!(db.blocks().len(), 1);
        check_contents(&db, &format!("block v{version}"));
        db.close().unwrap();
        // Rollups exist from version 3 on; older blocks read without them.
        let b = block::Block::open(&dir.path().join("blocks").join(block::file_name(1))).unwrap();
        for id in 0..b.series_count() {
            let w = b.rollups(id, 3_600_000, i64::MIN, i64::MAX).unwrap();
            assert_eq!(w.is_empty(), version < 3, "block v{version} series {id}");
        }
    }
}

#[test]
fn every_wal_fixture_replays() {
    let found = versions(&fixtures(), "wal-v", "");
    assert!(
        found.contains(&WAL_VERSION),
        "no fixture for WAL version {WAL_VERSION}: {found:?}"
    );
    for version in found {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("wal/shard-000");
        fs::create_dir_all(&shard).unwrap();
        fs::copy(wal_fixture(version), shard.join("0000000001.wal")).unwrap();
        let db = Db::open(dir.path(), options()).unwrap();
        let report = db.open_report();
        assert!(report.wal_damage.is_empty(), "WAL v{version}: {:?}", report.wal_damage);
        assert_eq!(report.wal_samples_replayed, 120, "WAL v{version}");
        check_contents(&db, &format!("WAL v{version}"));
        db.close().unwrap();
    }
}

#[test]
fn blocks_are_written_as_the_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let now = fs::read(write_block(dir.path())).unwrap();
    let fixture = fs::read(block_fixture(BLOCK_VERSION)).unwrap();
    // The index is zstd-compressed: another zstd release may compress the same index differently.
    // Compare the uncompressed form then, with the fields that depend on the compression cleared.
    assert!(
        now == fixture || canonical_block(&now).is_some_and(|c| Some(c) == canonical_block(&fixture)),
        "{CHANGED} (block: {} bytes written now, {} in {})",
        now.len(),
        fixture.len(),
        block_fixture(BLOCK_VERSION).display()
    );
}

#[test]
fn wal_segments_are_written_as_the_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let now = fs::read(write_wal(dir.path())).unwrap();
    let fixture = fs::read(wal_fixture(WAL_VERSION)).unwrap();
    let first_diff = now.iter().zip(&fixture).position(|(a, b)| a != b);
    assert!(
        now == fixture,
        "{CHANGED} (WAL segment: {} bytes written now, {} in {}, first difference at {first_diff:?})",
        now.len(),
        fixture.len(),
        wal_fixture(WAL_VERSION).display()
    );
}

/// A block with its index decompressed and the footer's index length and checksums zeroed.
fn canonical_block(file: &[u8]) -> Option<Vec<u8>> {
    let foot_at = file.len().checked_sub(BLOCK_FOOTER_LEN)?;
    let footer = &file[foot_at..];
    let index_off = usize::try_from(u64::from_le_bytes(footer[0..8].try_into().ok()?)).ok()?;
    let index = zstd::decode_all(file.get(index_off..foot_at)?).ok()?;
    let mut out = file.get(..index_off)?.to_vec();
    out.extend_from_slice(&index);
    let mut footer = footer.to_vec();
    for range in [8..16, 68..72, 76..80] {
        footer[range].fill(0);
    }
    out.extend_from_slice(&footer);
    Some(out)
}

/// Writes the fixtures of the current versions. Run once per format version, never to make the
/// tests above pass: a new version gets new files, old ones stay.
#[test]
#[ignore = "writes the committed fixtures; run only for a new format version"]
fn write_format_fixtures() {
    // Only the missing ones: an existing fixture is never rewritten.
    let block_to = block_fixture(BLOCK_VERSION);
    let wal_to = wal_fixture(WAL_VERSION);
    let dir = tempfile::tempdir().unwrap();
    if !block_to.exists() {
        fs::copy(write_block(&dir.path().join("b")), &block_to).unwrap();
    }
    if !wal_to.exists() {
        fs::create_dir_all(wal_to.parent().unwrap()).unwrap();
        fs::copy(write_wal(&dir.path().join("w")), &wal_to).unwrap();
    }
}
