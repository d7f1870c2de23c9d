//! Tenants: one database holds the series of several tenants, told apart by the reserved label
//! [`TENANT_LABEL`]. The default tenant's series carry no such label (a data directory written
//! before tenants existed is the default tenant's, unchanged).
//!
//! - **Writes** name their tenant ([`crate::Db::write_lines_for`], [`crate::SampleBatch::for_tenant`]):
//!   the label is added to every series by the engine, and a client's own `__tenant__` tag or label
//!   is refused (always, for every tenant), so no write can land in another tenant's series.
//! - **Reads** go through a [`TenantView`]: every read it offers adds the tenant's matcher to the
//!   caller's matchers and removes [`TENANT_LABEL`] from what it returns. It is the only read
//!   handle the server gives its handlers, so a new endpoint cannot read across tenants.

use std::sync::Arc;

use foresight_promql::{Storage, StorageError};

pub use crate::admission::{Admission, TENANT_LABEL, TENANT_LABEL_RESERVED};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::model::{LabelMatcher, Labels, Series};
use crate::rollup::RollupSeries;

/// One tenant's read view of a [`Db`]: every series it returns is the tenant's, without
/// [`TENANT_LABEL`]. A [`Storage`], so PromQL evaluates over it.
#[derive(Debug, Clone)]
pub struct TenantView {
    db: Arc<Db>,
    /// `None` for the default tenant.
    tenant: Option<Arc<str>>,
    /// `__tenant__="<name>"`, or `__tenant__=""` (no such label) for the default tenant.
    scope: LabelMatcher,
    /// Which new series its writes may add (`None`: any).
    admission: Option<Arc<dyn Admission>>,
    /// The longest span (ms) one read of samples may cover, and the refusal's advice.
    max_range: Option<(i64, Arc<str>)>,
}

impl TenantView {
    /// The view of `tenant` (`None`: the default tenant) over `db`.
    pub fn new(db: Arc<Db>, tenant: Option<Arc<str>>) -> Self {
        let scope = LabelMatcher::equal(TENANT_LABEL, tenant.as_deref().unwrap_or(""));
        TenantView {
            db,
            tenant,
            scope,
            admission: None,
            max_range: None,
        }
    }

    /// This view, refusing reads of samples (raw or rollups) over more than `max_ms`
    /// milliseconds (`maxt - mint`) with [`crate::Error::LimitExceeded`]; `advice` ends the
    /// message (which limit it is, how to raise it).
    pub fn with_max_range(mut self, max_ms: i64, advice: impl Into<Arc<str>>) -> Self {
        self.max_range = Some((max_ms, advice.into()));
        self
    }

    /// Whether a read of `[mint, maxt]` is within the view's range limit.
    fn check_range(&self, mint: i64, maxt: i64) -> Result<()> {
        match &self.max_range {
            Some((max, advice)) if maxt.saturating_sub(mint) > *max => Err(crate::Error::LimitExceeded(format!(
                "the query reads {} of data, more than the limit of {} ({advice})",
                span_text(maxt.saturating_sub(mint)),
                span_text(*max)
            ))),
            _ => Ok(()),
        }
    }

    /// This view, its writes adding only the new series `admission` admits.
    pub fn with_admission(mut self, admission: Arc<dyn Admission>) -> Self {
        self.admission = Some(admission);
        self
    }

    /// The tenant (`None`: the default one).
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The caller's matchers and the tenant's; `None` when nothing can match. The view has no
    /// [`TENANT_LABEL`]: a caller's matcher on it is judged against the empty value (as for any
    /// absent label), so `__tenant__=""` matches everything and `__tenant__="x"` nothing.
    fn scoped(&self, matchers: &[LabelMatcher]) -> Option<Vec<LabelMatcher>> {
        let mut all = Vec::with_capacity(matchers.len() + 1);
        for m in matchers {
            if m.name == TENANT_LABEL {
                if !m.matches("") {
                    return None;
                }
            } else {
                all.push(m.clone());
            }
        }
        all.push(self.scope.clone());
        Some(all)
    }

    /// `read` over the narrowed matchers (nothing when they cannot match), then `strip` on each
    /// result.
    fn narrowed<T>(
        &self,
        matchers: &[LabelMatcher],
        read: impl FnOnce(&[LabelMatcher]) -> Result<Vec<T>>,
        strip: impl Fn(&mut T),
    ) -> Result<Vec<T>> {
        let Some(matchers) = self.scoped(matchers) else {
            return Ok(Vec::new());
        };
        let mut out = read(&matchers)?;
        out.iter_mut().for_each(strip);
        Ok(out)
    }

    /// [`Db::select`] within the tenant.
    pub fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        self.check_range(mint, maxt)?;
        self.narrowed(matchers, |m| self.db.select(m, mint, maxt), |s| strip(&mut s.labels))
    }

    /// [`Db::rollups`] within the tenant.
    pub fn rollups(&self, matchers: &[LabelMatcher], len: i64, mint: i64, maxt: i64) -> Result<Vec<RollupSeries>> {
        self.check_range(mint, maxt)?;
        self.narrowed(
            matchers,
            |m| self.db.rollups(m, len, mint, maxt),
            |s| strip(&mut s.labels),
        )
    }

    /// [`Db::select_rollups`] within the tenant.
    pub fn select_rollups(
        &self,
        matchers: &[LabelMatcher],
        len: i64,
        mint: i64,
        maxt: i64,
        raw: &[(i64, i64)],
    ) -> Result<Vec<crate::rollup::RollupSelection>> {
        self.check_range(mint, maxt)?;
        self.narrowed(
            matchers,
            |m| self.db.select_rollups(m, len, mint, maxt, raw),
            |s| strip(&mut s.labels),
        )
    }

    /// [`Db::series`] within the tenant.
    pub fn series(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<Labels>> {
        self.narrowed(matchers, |m| self.db.series(m, mint, maxt), strip)
    }

    /// [`Db::label_names`] within the tenant (never [`TENANT_LABEL`]).
    pub fn label_names(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        let mut names = self.narrowed(matchers, |m| self.db.label_names(m, mint, maxt), |_| {})?;
        names.retain(|n| n != TENANT_LABEL);
        Ok(names)
    }

    /// [`Db::label_values`] within the tenant (none for [`TENANT_LABEL`]).
    pub fn label_values(&self, name: &str, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<String>> {
        if name == TENANT_LABEL {
            return Ok(Vec::new());
        }
        self.narrowed(matchers, |m| self.db.label_values(name, m, mint, maxt), |_| {})
    }

    /// Stores a line-protocol body as this tenant's ([`Db::write_lines_for`]).
    pub fn write_lines_at(
        &self,
        body: &[u8],
        precision: crate::lineproto::Precision,
        default_ms: i64,
    ) -> Result<crate::WriteReport> {
        self.db
            .write_lines_for(self.tenant(), self.admission.as_deref(), body, precision, default_ms)
    }

    /// Stores a batch made for this tenant ([`crate::SampleBatch::for_tenant`]); a batch made for
    /// another tenant is refused.
    pub fn write_samples(&self, batch: &crate::SampleBatch) -> Result<crate::WriteReport> {
        if batch.tenant() != self.tenant() {
            return Err(Error::InvalidArgument(
                "the sample batch was made for another tenant".into(),
            ));
        }
        self.db.write_samples_admitted(batch, self.admission.as_deref())
    }
}

/// A span of milliseconds in the largest whole unit that keeps it readable (`31d`, `36h`,
/// `90m`, `1500ms`), rounded to whole seconds beyond a minute (a range selector's span is a
/// millisecond short of its duration: its start is exclusive).
fn span_text(ms: i64) -> String {
    let ms = ms.max(0);
    let ms = if ms >= 60_000 { (ms + 500) / 1000 * 1000 } else { ms };
    foresight_units::format_duration(std::time::Duration::from_millis(ms.unsigned_abs()))
}

/// Removes [`TENANT_LABEL`] from `labels` (a no-op, without copying, for the default tenant's).
fn strip(labels: &mut Labels) {
    if labels.get(TENANT_LABEL).is_some() {
        *labels = labels.filter(|n| n != TENANT_LABEL);
    }
}

impl Storage for TenantView {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> std::result::Result<Vec<foresight_promql::Series>, StorageError> {
        crate::query::to_storage(TenantView::select(self, matchers, mint, maxt))
    }

    fn rollup_lengths(&self) -> Vec<i64> {
        self.db.rollup_windows_ms().to_vec()
    }

    fn select_rollups(
        &self,
        matchers: &[LabelMatcher],
        len: i64,
        mint: i64,
        maxt: i64,
        raw: &[(i64, i64)],
    ) -> std::result::Result<Vec<foresight_promql::RollupSeries>, StorageError> {
        crate::query::to_rollup_storage(TenantView::select_rollups(self, matchers, len, mint, maxt, raw))
    }

    fn label_names(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> std::result::Result<Vec<String>, StorageError> {
        TenantView::label_names(self, matchers, mint, maxt)
            .map_err(|e| StorageError::with_source("storage read failed", e))
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> std::result::Result<Vec<String>, StorageError> {
        TenantView::label_values(self, name, matchers, mint, maxt)
            .map_err(|e| StorageError::with_source("storage read failed", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineproto::Precision;
    use crate::{MatchOp, Options, SampleBatch};

    fn open() -> (tempfile::TempDir, Arc<Db>) {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(
            tmp.path(),
            Options {
                shards: 2,
                background_flush: false,
                ..Options::default()
            },
        )
        .unwrap();
        (tmp, Arc::new(db))
    }

    fn names(series: &[Series]) -> Vec<String> {
        series.iter().map(|s| s.labels.to_string()).collect()
    }

    #[test]
    fn each_tenant_sees_its_own_series_without_the_label() {
        let (_tmp, db) = open();
        let t0 = 1_700_000_000_000;
        db.write_lines_at(b"cpu,host=a v=1\n", Precision::Milliseconds, t0)
            .unwrap();
        let acme = TenantView::new(db.clone(), Some(Arc::from("acme")));
        let r = acme
            .write_lines_at(b"cpu,host=a v=2\ncpu,host=canary v=3\n", Precision::Milliseconds, t0)
            .unwrap();
        assert_eq!(r.samples_accepted, 2);
        let mut batch = SampleBatch::for_tenant(Some("acme"));
        let s = batch
            .add_series(&Labels::new([("__name__", "rw"), ("job", "x")]))
            .unwrap();
        batch.push(s, t0, 4.0, 1);
        acme.write_samples(&batch).unwrap();

        let default = TenantView::new(db.clone(), None);
        let all = [LabelMatcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
        assert_eq!(
            names(&default.select(&all, 0, i64::MAX).unwrap()),
            ["cpu_v{host=\"a\"}"]
        );
        assert_eq!(default.select(&all, 0, i64::MAX).unwrap()[0].samples, [(t0, 1.0)]);
        assert_eq!(
            names(&acme.select(&all, 0, i64::MAX).unwrap()),
            ["cpu_v{host=\"a\"}", "cpu_v{host=\"canary\"}", "rw{job=\"x\"}"]
        );
        // The raw database holds the label; the views never show it.
        assert_eq!(db.label_values(TENANT_LABEL, &[], 0, i64::MAX).unwrap(), ["acme"]);
        assert!(acme.label_values(TENANT_LABEL, &[], 0, i64::MAX).unwrap().is_empty());
        assert!(
            !acme
                .label_names(&[], 0, i64::MAX)
                .unwrap()
                .contains(&TENANT_LABEL.to_owned())
        );
        assert_eq!(default.label_values("host", &[], 0, i64::MAX).unwrap(), ["a"]);
        assert_eq!(acme.series(&all, 0, i64::MAX).unwrap().len(), 3);
        // A view has no tenant label: a matcher naming a tenant (even its own) finds nothing,
        // one matching the empty value changes nothing.
        let named = [all[0].clone(), LabelMatcher::equal(TENANT_LABEL, "acme")];
        assert!(default.select(&named, 0, i64::MAX).unwrap().is_empty());
        assert!(acme.select(&named, 0, i64::MAX).unwrap().is_empty());
        assert!(acme.series(&named, 0, i64::MAX).unwrap().is_empty());
        let any = [LabelMatcher::new(MatchOp::RegexMatch, TENANT_LABEL, ".+").unwrap()];
        assert!(acme.label_values("host", &any, 0, i64::MAX).unwrap().is_empty());
        let unset = [all[0].clone(), LabelMatcher::equal(TENANT_LABEL, "")];
        assert_eq!(acme.select(&unset, 0, i64::MAX).unwrap().len(), 3);
        let beta = TenantView::new(db.clone(), Some(Arc::from("beta")));
        assert!(beta.select(&all, 0, i64::MAX).unwrap().is_empty());
        assert!(beta.label_values("host", &[], 0, i64::MAX).unwrap().is_empty());
        // Rollup reads (with their raw spans) are narrowed too.
        let hour = crate::ROLLUP_RESOLUTIONS[crate::ROLLUP_RESOLUTIONS.len() - 1];
        let rolled = acme.select_rollups(&all, hour, 0, i64::MAX, &[(0, i64::MAX)]).unwrap();
        let mut rolled: Vec<String> = rolled.iter().map(|s| s.labels.to_string()).collect();
        rolled.sort();
        assert_eq!(rolled, ["cpu_v{host=\"a\"}", "cpu_v{host=\"canary\"}", "rw{job=\"x\"}"]);
        assert!(
            beta.select_rollups(&all, hour, 0, i64::MAX, &[(0, i64::MAX)])
                .unwrap()
                .is_empty()
        );

        // PromQL over a view.
        let engine = foresight_promql::Engine::new(foresight_promql::EngineOptions::default());
        let r = engine
            .instant_query(&acme, "count by (__tenant__) ({__name__=~\".+\"})", t0)
            .unwrap();
        let foresight_promql::Value::Vector(v) = r.value else {
            panic!("{:?}", r.value)
        };
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].v, 3.0);
        assert!(v[0].labels.is_empty(), "{:?}", v[0].labels);
    }

    /// Admits at most `max` distinct series.
    #[derive(Debug)]
    struct AtMost(usize, parking_lot::Mutex<std::collections::HashSet<u64>>);

    impl Admission for AtMost {
        fn admit(&self, hash: u64, key: &[u8]) -> Result<(), String> {
            assert!(Labels::from_key(key).unwrap().get(TENANT_LABEL).is_some());
            let mut seen = self.1.lock();
            if seen.contains(&hash) || (seen.len() < self.0 && seen.insert(hash)) {
                Ok(())
            } else {
                Err(format!("over the limit of {} series", self.0))
            }
        }
    }

    #[test]
    fn admission_refuses_new_series_and_keeps_the_known_ones() {
        let (_tmp, db) = open();
        let limit = Arc::new(AtMost(2, Default::default()));
        let acme = TenantView::new(db.clone(), Some(Arc::from("acme"))).with_admission(limit);
        let r = acme
            .write_lines_at(
                b"m,h=a v=1\nm,h=b v=1\nm,h=c v=1,w=2\nm,h=a v=2 2000\n",
                Precision::Milliseconds,
                1000,
            )
            .unwrap();
        assert_eq!(r.samples_accepted, 3, "{r:?}");
        assert_eq!(r.rejected.len(), 1);
        assert_eq!(r.rejected[0].line, 3);
        assert!(r.rejected[0].reason.contains("over the limit of 2 series"));
        let mut batch = SampleBatch::for_tenant(Some("acme"));
        let known = batch
            .add_series(&Labels::new([("__name__", "m_v"), ("h", "a")]))
            .unwrap();
        let new = batch
            .add_series(&Labels::new([("__name__", "m_v"), ("h", "z")]))
            .unwrap();
        batch.push(known, 3000, 3.0, 1);
        batch.push(new, 3000, 3.0, 2);
        batch.push(new, 4000, 3.0, 2);
        let r = acme.write_samples(&batch).unwrap();
        assert_eq!((r.samples_accepted, r.rejected.len(), r.rejected[0].line), (1, 1, 2));
        let all = [LabelMatcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
        let got = acme.select(&all, 0, i64::MAX).unwrap();
        assert_eq!(names(&got), ["m_v{h=\"a\"}", "m_v{h=\"b\"}"]);
        assert_eq!(got[0].samples, [(1000, 1.0), (2000, 2.0), (3000, 3.0)]);
    }

    #[test]
    fn a_client_may_not_set_the_tenant_label() {
        let (_tmp, db) = open();
        let acme = TenantView::new(db.clone(), Some(Arc::from("acme")));
        for view in [acme, TenantView::new(db.clone(), None)] {
            let r = view
                .write_lines_at(b"m,__tenant__=beta v=1\nm v=2\n", Precision::Milliseconds, 1000)
                .unwrap();
            assert_eq!(r.samples_accepted, 1);
            assert_eq!(r.rejected.len(), 1);
            assert_eq!(r.rejected[0].line, 1);
            assert!(
                r.rejected[0].reason.contains("__tenant__ is reserved"),
                "{:?}",
                r.rejected
            );
            let mut batch = SampleBatch::for_tenant(view.tenant());
            let e = batch
                .add_series(&Labels::new([("__name__", "m"), (TENANT_LABEL, "beta")]))
                .unwrap_err();
            assert!(e.to_string().contains("__tenant__ is reserved"), "{e}");
            let e = batch
                .add_series_sorted(&[("__name__", "m"), (TENANT_LABEL, "beta")])
                .unwrap_err();
            assert!(e.to_string().contains("__tenant__ is reserved"), "{e}");
        }
        let wrong = SampleBatch::for_tenant(Some("beta"));
        assert!(TenantView::new(db, None).write_samples(&wrong).is_err());
    }
}
