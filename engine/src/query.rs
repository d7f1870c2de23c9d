//! PromQL over the database: [`Db`] is a [`foresight_promql::Storage`].

use foresight_promql::{LabelMatcher, Storage, StorageError};

use crate::db::Db;

impl Storage for Db {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<foresight_promql::Series>, StorageError> {
        let series =
            Db::select(self, matchers, mint, maxt).map_err(|e| StorageError::with_source("storage read failed", e))?;
        Ok(series
            .into_iter()
            .map(|s| foresight_promql::Series {
                labels: s.labels,
                samples: s.samples.into(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use foresight_promql::{Engine, EngineOptions, Value};

    use crate::lineproto::Precision;
    use crate::{Db, Options};

    #[test]
    fn promql_over_the_database() {
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
        let mut body = String::new();
        for i in 0..60 {
            for h in ["a", "b"] {
                body.push_str(&format!("req,host={h} total={}i {}\n", i * 10, i * 10));
            }
        }
        db.write_lines(body.as_bytes(), Precision::Seconds).unwrap();
        db.flush().unwrap();
        let engine = Engine::new(EngineOptions::default());
        let r = engine.instant_query(&db, "sum(rate(req_total[5m]))", 590_000).unwrap();
        match r.value {
            Value::Vector(v) => {
                assert_eq!(v.len(), 1);
                assert!((v[0].v - 2.0).abs() < 1e-9, "{v:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
