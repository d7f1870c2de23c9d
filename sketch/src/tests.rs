use super::*;
use proptest::prelude::*;

fn sketch_of(values: &[f64]) -> Sketch {
    let mut s = Sketch::new();
    for &v in values {
        s.add(v);
    }
    s
}

/// Prometheus' `quantile` over the exact values (promql/quantile.go).
fn exact_quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let rank = q * (n - 1.0);
    let lo = rank.floor().max(0.0);
    let hi = (lo + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    v[lo as usize] * (1.0 - w) + v[hi as usize] * w
}

/// Magnitudes over many octaves, from 1e-6 to 1e9.
fn magnitude() -> impl Strategy<Value = f64> {
    (-6.0f64..9.0).prop_map(|e| 10f64.powf(e))
}

fn mixed_values() -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(
        prop_oneof![
            6 => magnitude(),
            3 => magnitude().prop_map(|v| -v),
            1 => Just(0.0),
            1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
        ],
        0..300,
    )
}

#[test]
fn relative_error_matches_the_schema() {
    let gamma = (1.0f64 / 64.0).exp2();
    assert!(((gamma - 1.0) / (gamma + 1.0) - RELATIVE_ERROR).abs() < 1e-15);
    // Native-histogram bucket boundaries: a power of two is the upper bound of its bucket.
    assert_eq!(bucket_key(1.0), 0);
    assert_eq!(bucket_key(2.0), 64);
    assert_eq!(bucket_key(1.0001), 1);
    assert_eq!(bucket_key(-0.5), -64);
}

#[test]
fn quantile_edge_cases_follow_prometheus() {
    let s = Sketch::new();
    assert!(s.quantile(0.5).is_nan(), "empty");
    let s = sketch_of(&[3.0, 1.0, 2.0]);
    assert!(s.quantile(f64::NAN).is_nan());
    assert_eq!(s.quantile(-0.1), f64::NEG_INFINITY);
    assert_eq!(s.quantile(1.1), f64::INFINITY);
    assert_eq!(s.quantile(0.0), 1.0, "clamped to the exact minimum");
    assert_eq!(s.quantile(1.0), 3.0, "clamped to the exact maximum");
    let s = sketch_of(&[f64::NAN, 5.0]);
    assert_eq!((s.count(), s.non_finite()), (1, 1));
}

#[test]
fn encoding_is_compact_and_stable() {
    // 30 samples of a gauge near 50 fall in few adjacent buckets: one byte per bucket.
    let values: Vec<f64> = (0..30).map(|i| 50.0 + f64::from(i % 7) * 0.1).collect();
    let s = sketch_of(&values);
    let mut b = Vec::new();
    s.encode(&mut b);
    assert_eq!(s.buckets(), 2);
    assert_eq!(
        b,
        vec![0x08, 0xd4, 0x05, 0x15, 0x0e],
        "header, key 362, count 22, then count 8 next to it"
    );
    let (back, used) = Sketch::decode(&b, s.min(), s.max()).unwrap();
    assert_eq!((back, used), (s, b.len()));
}

#[test]
fn decode_rejects_garbage_without_panicking() {
    assert!(Sketch::decode(&[], 0.0, 0.0).is_err());
    assert!(Sketch::decode(&[0xff; 12], 0.0, 0.0).is_err());
    // 1,000 positive buckets announced in a 3-byte input.
    assert!(Sketch::decode(&[0xa0, 0x1f, 0x00], 0.0, 0.0).is_err());
    // A negative store marked present but empty.
    assert!(Sketch::decode(&[0x02, 0x00], 0.0, 0.0).is_err());
}

proptest! {
    #[test]
    fn encoding_round_trips(values in mixed_values()) {
        let s = sketch_of(&values);
        let mut b = vec![0xaa];
        s.encode(&mut b);
        let (back, used) = Sketch::decode(&b[1..], s.min(), s.max()).unwrap();
        prop_assert_eq!(used, b.len() - 1);
        prop_assert_eq!(back, s);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Sketch::decode(&bytes, 0.0, 1.0);
    }

    #[test]
    fn merge_is_associative_commutative_and_lossless(
        a in mixed_values(), b in mixed_values(), c in mixed_values()
    ) {
        let (sa, sb, sc) = (sketch_of(&a), sketch_of(&b), sketch_of(&c));
        let mut ab_c = sa.clone();
        ab_c.merge(&sb);
        ab_c.merge(&sc);
        let mut bc = sb.clone();
        bc.merge(&sc);
        let mut a_bc = sa.clone();
        a_bc.merge(&bc);
        prop_assert_eq!(&ab_c, &a_bc);
        let mut ba = sb.clone();
        ba.merge(&sa);
        let mut ab = sa.clone();
        ab.merge(&sb);
        prop_assert_eq!(&ab, &ba);
        let all: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        prop_assert_eq!(ab_c, sketch_of(&all), "merged parts equal the sketch of the whole");
    }

    #[test]
    fn the_merger_equals_merging_one_by_one(
        a in mixed_values(), b in mixed_values(), extra in mixed_values()
    ) {
        let (sa, sb) = (sketch_of(&a), sketch_of(&b));
        let mut m = crate::Merger::new();
        m.merge(&sb);
        for &v in &extra {
            m.add(v);
        }
        m.merge(&sa);
        let all: Vec<f64> = a.iter().chain(&b).chain(&extra).copied().collect();
        prop_assert_eq!(m.finish(), sketch_of(&all));
        prop_assert_eq!(crate::Merger::new().finish(), Sketch::new());
    }

    #[test]
    fn same_sign_quantiles_are_within_the_bound(
        values in proptest::collection::vec(magnitude(), 1..400),
        negative in any::<bool>(),
        q in 0.0f64..=1.0,
    ) {
        let values: Vec<f64> = values.iter().map(|&v| if negative { -v } else { v }).collect();
        let s = sketch_of(&values);
        let exact = exact_quantile(&values, q);
        let got = s.quantile(q);
        prop_assert!(
            (got - exact).abs() <= exact.abs() * RELATIVE_ERROR * (1.0 + 1e-9),
            "q {} exact {} got {}", q, exact, got
        );
    }

    #[test]
    fn every_rank_is_within_the_bound(values in mixed_values()) {
        let s = sketch_of(&values);
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        finite.sort_by(f64::total_cmp);
        prop_assert_eq!(s.count(), finite.len() as u64);
        for (r, &exact) in finite.iter().enumerate() {
            let got = s.value_at_rank(r as u64);
            prop_assert!((got - exact).abs() <= exact.abs() * RELATIVE_ERROR * (1.0 + 1e-9),
                "rank {} exact {} got {}", r, exact, got);
        }
    }

    #[test]
    fn agrees_with_the_ddsketch_crate(values in mixed_values(), q in 0.0f64..=1.0) {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        prop_assume!(!finite.is_empty());
        let ours = sketch_of(&finite);
        let mut oracle = sketches_ddsketch::DDSketch::new(sketches_ddsketch::Config::defaults());
        for &v in &finite {
            oracle.add(v);
        }
        // The crate answers the value of rank floor(q (n - 1)) with its own 1 % bound.
        let theirs = oracle.quantile(q).unwrap().unwrap();
        let rank = (q * (finite.len() as f64 - 1.0)) as u64;
        let mine = ours.value_at_rank(rank);
        let mut sorted = finite.clone();
        sorted.sort_by(f64::total_cmp);
        let exact = sorted[rank as usize];
        let bound = exact.abs() * (RELATIVE_ERROR + 0.01) * (1.0 + 1e-9) + 1e-9;
        prop_assert!((mine - theirs).abs() <= bound, "rank {} exact {} ours {} crate {}", rank, exact, mine, theirs);
    }
}
