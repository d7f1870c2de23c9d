//! Accuracy against statsmodels and scikit-learn, from fixtures written by
//! `tests/reference/make_reference.py` (committed, so no Python is needed here).

use foresight_forecasting::{
    FitOptions, IsolationForest, IsolationForestConfig, ModelChoice, ModelSpec, Season, Seasonality, Trend, fit,
};
use serde_json::Value;

use crate::common::spearman;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/reference/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn spec(case: &Value) -> ModelSpec {
    let trend = match case["trend"].as_str().unwrap() {
        "none" => Trend::None,
        "additive" => Trend::Additive,
        _ => Trend::Damped,
    };
    let seasonality = match case["seasonality"].as_str().unwrap() {
        "none" => Seasonality::None,
        "additive" => Seasonality::Additive,
        _ => Seasonality::Multiplicative,
    };
    ModelSpec::new(trend, seasonality)
}

/// Same model class, same objective (one-step SSE with every initial state estimated), so our
/// optimum must be at least as good as statsmodels' up to 2%. Forecasts of two near-optimal fits
/// can differ where the SSE surface is flat, so they are compared against the noise level: the RMS
/// gap between the two forecast paths must stay below 1.5 one-step residual standard deviations,
/// and our held-out error must be no worse than 1.25x statsmodels' plus a quarter of that sd.
#[test]
fn ets_matches_statsmodels() {
    let fixture = load("ets_reference.json");
    let mut report = String::new();
    let mut failures = Vec::new();
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let train = floats(&case["train"]);
        let test = floats(&case["test"]);
        let sm = &case["statsmodels"];
        let sm_sse = sm["sse"].as_f64().unwrap();
        let sm_fc = floats(&sm["forecast"]);
        let period = case["period"].as_u64().unwrap() as usize;
        let options = FitOptions {
            model: ModelChoice::Fixed(spec(case)),
            season: Season::Period(period),
            ..FitOptions::default()
        };
        let model = fit(&train, &options).unwrap();
        assert!(model.fallback().is_none(), "{name}: {:?}", model.fallback());
        let fc = model.forecast(test.len(), 0.95).unwrap();
        let sd = (sm_sse / train.len() as f64).sqrt();
        let gap = (fc.mean.iter().zip(&sm_fc).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / test.len() as f64).sqrt();
        let rmse =
            |f: &[f64]| (f.iter().zip(&test).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / test.len() as f64).sqrt();
        let (ours, theirs) = (rmse(&fc.mean), rmse(&sm_fc));
        report.push_str(&format!(
            "{name:24} {:12} sse ours/sm = {:.4}  fc gap/sd = {:.3}  test rmse ours {ours:.3} sm {theirs:.3}\n",
            model.spec().to_string(),
            model.sse() / sm_sse,
            gap / sd
        ));
        report.push_str(&format!("    params {:?}\n    statsmodels {}\n", model.params(), sm));
        if model.sse() > sm_sse * 1.02 {
            failures.push(format!("{name}: sse {} vs statsmodels {sm_sse}", model.sse()));
        }
        if gap > 1.5 * sd {
            failures.push(format!("{name}: forecasts differ by {gap} (sd {sd})"));
        }
        if ours > 1.25 * theirs + 0.25 * sd {
            failures.push(format!("{name}: test rmse {ours} vs {theirs}"));
        }
    }
    println!("{report}");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn iforest_matches_sklearn() {
    let fixture = load("iforest_reference.json");
    let nf = fixture["n_features"].as_u64().unwrap() as usize;
    let rows: Vec<f64> = fixture["rows"].as_array().unwrap().iter().flat_map(floats).collect();
    let theirs = floats(&fixture["sklearn_scores"]);
    let mut planted: Vec<usize> = fixture["outliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    planted.sort_unstable();
    for seed in [0, 1, 2] {
        let forest = IsolationForest::fit(
            &rows,
            nf,
            &IsolationForestConfig {
                seed,
                ..Default::default()
            },
        )
        .unwrap();
        let ours = forest.score_rows(&rows);
        let rho = spearman(&ours, &theirs);
        // Rank of each planted outlier (0 = most anomalous) under both scorers.
        let rank_of = |s: &[f64]| {
            let mut idx: Vec<usize> = (0..s.len()).collect();
            idx.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
            planted
                .iter()
                .map(|p| idx.iter().position(|i| i == p).unwrap())
                .collect::<Vec<_>>()
        };
        let (ours_r, theirs_r) = (rank_of(&ours), rank_of(&theirs));
        println!("seed {seed}: spearman {rho:.4}; planted ranks ours {ours_r:?} sklearn {theirs_r:?}");
        assert!(rho > 0.9, "spearman {rho}");
        // Both flag every planted outlier within the top 1% (20 of 2,000 rows)...
        assert!(ours_r.iter().all(|&r| r < 20), "{ours_r:?}");
        assert!(theirs_r.iter().all(|&r| r < 20), "{theirs_r:?}");
        // ... and at least 9 of the 10 most anomalous rows are planted ones.
        assert!(ours_r.iter().filter(|&&r| r < 10).count() >= 9, "{ours_r:?}");
    }
}

/// Same feature matrix, same labels: our forest's AUROC (mean over 5 seeds) must be within 0.01 of
/// scikit-learn's (mean over 5 random states). Also checks that `build_features` computes the
/// same value / difference / rolling mean / rolling std columns as the Python side.
#[test]
fn iforest_auroc_matches_sklearn_on_labelled_series() {
    let fixture = load("iforest_reference.json");
    let lab = &fixture["labelled"];
    let table: Vec<Vec<f64>> = lab["rows"].as_array().unwrap().iter().map(floats).collect();
    let labels: Vec<bool> = lab["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();
    let theirs = floats(&lab["sklearn_auroc"]);
    let theirs = theirs.iter().sum::<f64>() / theirs.len() as f64;

    let values: Vec<f64> = table.iter().map(|r| r[0]).collect();
    let built = foresight_forecasting::build_features(&values, 12, None);
    for (ours, py) in built.iter().zip(&table) {
        for c in 0..4 {
            assert!(
                (ours[c] - py[c]).abs() <= 1e-9 * py[c].abs().max(1.0),
                "{ours:?} vs {py:?}"
            );
        }
    }

    let rows: Vec<f64> = table.iter().flatten().copied().collect();
    let mut aucs = Vec::new();
    for seed in 0..5 {
        let forest = IsolationForest::fit(
            &rows,
            5,
            &IsolationForestConfig {
                seed,
                ..Default::default()
            },
        )
        .unwrap();
        aucs.push(crate::common::auroc(&forest.score_rows(&rows), &labels));
    }
    let ours = aucs.iter().sum::<f64>() / aucs.len() as f64;
    println!("labelled series AUROC: ours {ours:.4} {aucs:.4?}, sklearn {theirs:.4}");
    assert!((ours - theirs).abs() <= 0.01, "ours {ours} vs sklearn {theirs}");
}
