//! Property tests: no input makes the crate panic, and outputs keep their shapes.

use foresight_forecasting::{
    Detector, DetectorConfig, FitOptions, IsolationForest, IsolationForestConfig, ModelChoice, ModelSpec, Season,
    Seasonality, Trend, build_features, detect_season, fit,
};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -1e3..1e3f64,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(-1e300),
        1 => Just(1e300),
        1 => Just(0.0),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn fit_and_forecast_never_panic(y in prop::collection::vec(value(), 0..120), m in 1usize..8) {
        let specs = [
            ModelChoice::Auto,
            ModelChoice::Fixed(ModelSpec::new(Trend::Damped, Seasonality::Multiplicative)),
        ];
        for model in specs {
            let options = FitOptions { model, season: Season::Period(m), max_evaluations: 200 };
            if let Ok(f) = fit(&y, &options) {
                let fc = f.forecast(5, 0.9).unwrap();
                prop_assert_eq!(fc.mean.len(), 5);
                prop_assert_eq!(f.fitted().len(), y.len());
            }
        }
        let _ = detect_season(&y, None);
        let rows = build_features(&y, 4, None);
        prop_assert_eq!(rows.len(), y.len());
        let _ = IsolationForest::fit(rows.as_flattened(), 5, &IsolationForestConfig::default())
            .map(|f| f.score_rows(rows.as_flattened()));
    }

    #[test]
    fn detector_never_panics(y in prop::collection::vec(value(), 0..150), gaps in prop::collection::vec(1i64..4, 150)) {
        let config = DetectorConfig {
            warmup: Some(20),
            refit_every: Some(15),
            max_history: 60,
            ..DetectorConfig::default()
        };
        let mut d = Detector::new(config).unwrap();
        let mut t = 0;
        for (v, g) in y.iter().zip(&gaps) {
            t += g;
            if let Some(s) = d.push(t, *v) {
                prop_assert!((0.0..=1.0).contains(&s.score), "{:?}", s);
            }
        }
    }
}
