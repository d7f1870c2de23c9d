//! Table-driven cases; the expected outputs are those of Prometheus' `template/template_test.go`
//! and its documentation (`docs/configuration/template_examples.md`), or Go's own `fmt`.

use std::collections::BTreeMap;

use super::*;

fn env_with<'a>(query: Option<&'a QueryFn<'a>>) -> Env<'a> {
    Env {
        query,
        now_ms: 1_435_065_584_128,
        external_url: "http://prom.example:9090/prefix",
    }
}

/// Runs `text` as an alert template for a sample `{instance="web-1:9100", job="node"}` with
/// value `value`.
fn alert(text: &str, value: f64) -> String {
    let ext: BTreeMap<String, String> = [("dc".to_string(), "eu-1".to_string())].into();
    let data = AlertData {
        labels: [("instance", "web-1:9100"), ("job", "node"), ("severity", "page")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        external_labels: &ext,
        external_url: "http://prom.example:9090/prefix",
        value,
        extra: Vec::new(),
    };
    let q = |q: &str| -> Result<Vec<Value>, String> {
        match q {
            "up" => Ok(vec![
                Value::sample(
                    [("__name__".into(), "up".into()), ("instance".into(), "b".into())].into(),
                    0.0,
                ),
                Value::sample(
                    [("__name__".into(), "up".into()), ("instance".into(), "a".into())].into(),
                    1.0,
                ),
            ]),
            "none" => Ok(Vec::new()),
            _ => Err(format!("bad query {q:?}")),
        }
    };
    expand_alert("Test", text, &data, &env_with(Some(&q)))
}

#[test]
fn alert_templates() {
    let cases: &[(&str, f64, &str)] = &[
        ("plain", 1.0, "plain"),
        ("{{ $value }}", 2_000_000.0, "2e+06"),
        ("{{ $value }}", 0.5, "0.5"),
        ("{{ $value }}", 1e21, "1e+21"),
        ("{{ $value }}", 123_456.0, "123456"),
        ("{{ .Value }}", 1_234_567.0, "1.234567e+06"),
        ("{{ $labels.instance }} of {{ $labels.job }}", 0.0, "web-1:9100 of node"),
        ("[{{ $labels.missing }}]", 0.0, "[]"),
        (
            "{{ $externalLabels.dc }} {{ $externalURL }}",
            0.0,
            "eu-1 http://prom.example:9090/prefix",
        ),
        ("{{ $value | humanize }}", 1_234_567.0, "1.235M"),
        ("{{ humanize $value }}", 0.12, "120m"),
        ("{{ humanize1024 $value }}", 1_048_576.0, "1Mi"),
        ("{{ humanizePercentage $value }}", 0.1234, "12.34%"),
        ("{{ humanizeDuration $value }}", 86_400.0 + 3600.0, "1d 1h 0m 0s"),
        (
            "{{ humanizeTimestamp $value }}",
            1_435_065_584.128,
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        ("{{ printf \"%.2f\" $value }}", 12.3456, "12.35"),
        ("{{ printf \"%s is %v\" $labels.job $value }}", 2e6, "node is 2e+06"),
        ("{{ printf \"%5.1f|%-4d|%03d\" $value 7 7 }}", 2.25, "  2.2|7   |007"),
        ("{{ printf \"%d\" $value }}", 1.5, "%!d(float64=1.5)"),
        ("{{ printf \"%d %d\" 1 }}", 0.0, "1 %!d(MISSING)"),
        ("{{ if gt $value 80.0 }}high{{ else }}ok{{ end }}", 90.0, "high"),
        (
            "{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}ok{{ end }}",
            60.0,
            "mid",
        ),
        ("{{ if eq $labels.severity \"page\" }}P{{ end }}", 0.0, "P"),
        ("{{ if and (ge $value 1.0) (lt $value 2.0) }}in{{ end }}", 1.5, "in"),
        (
            "{{ if not (eq $labels.job \"x\" \"node\") }}no{{ else }}yes{{ end }}",
            0.0,
            "yes",
        ),
        ("{{ with $labels.job }}job={{ . }}{{ end }}", 0.0, "job=node"),
        ("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0.0, "none"),
        (
            "{{ toUpper \"abc\" }} {{ toLower \"ABC\" }} {{ title \"aa bb-cc\" }}",
            0.0,
            "ABC abc Aa Bb-Cc",
        ),
        ("{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}", 0.0, "web-1"),
        ("{{ match \"^web\" $labels.instance }}", 0.0, "true"),
        ("{{ $labels.instance | stripPort }}", 0.0, "web-1"),
        ("{{ \"foo.example.com:12345\" | stripDomain }}", 0.0, "foo:12345"),
        (
            "{{ range query \"up\" }}{{ .Labels.instance }}={{ .Value }};{{ end }}",
            0.0,
            "b=0;a=1;",
        ),
        (
            "{{ range sortByLabel \"instance\" (query \"up\") }}{{ label \"instance\" . }} {{ end }}",
            0.0,
            "a b ",
        ),
        ("{{ with query \"up\" }}{{ . | first | value }}{{ end }}", 0.0, "0"),
        ("{{ range query \"none\" }}x{{ else }}empty{{ end }}", 0.0, "empty"),
        (
            "{{ range $i, $s := query \"up\" }}{{ $i }}:{{ $s.Value }} {{ end }}",
            0.0,
            "0:0 1:1 ",
        ),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}",
            0.0,
            "instance=web-1:9100,job=node,severity=page,",
        ),
        (
            "{{ range $i, $e := query \"up\" }}{{ if eq $i 1 }}{{ break }}{{ end }}{{ $i }}{{ end }}",
            0.0,
            "0",
        ),
        ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", 0.0, "2"),
        ("{{ len $labels }} {{ index $labels \"job\" }}", 0.0, "3 node"),
        ("a {{- \" b \" -}} c", 0.0, "a b c"),
        ("{{/* a comment */}}x", 0.0, "x"),
        (
            "{{ \"a\\tb\" }}|{{ `r\\n` }}|{{ 0x1F }}|{{ 1e3 }}|{{ 'a' }}",
            0.0,
            "a\tb|r\\n|31|1000|97",
        ),
        ("{{ print 1 2 \"x\" 3 }}", 0.0, "1 2x3"),
        (
            "{{ \"a b&c\" | urlquery }} {{ \"<a>\" | html }}",
            0.0,
            "a+b%26c &lt;a&gt;",
        ),
        (
            "{{ graphLink \"up == 0\" }}",
            0.0,
            "/graph?g0.expr=up+%3D%3D+0&g0.tab=0",
        ),
        (
            "{{ pathPrefix }} {{ externalURL }}",
            0.0,
            "/prefix http://prom.example:9090/prefix",
        ),
        ("{{ parseDuration \"1h30m\" }}", 0.0, "5400"),
        ("{{ now }}", 0.0, "1.435065584128e+09"),
        ("{{ toTime 1435065584.128 }}", 0.0, "2015-06-23 13:19:44.128 +0000 UTC"),
        (
            "{{ define \"x\" }}[{{ . }}]{{ end }}{{ template \"x\" $labels.job }}",
            0.0,
            "[node]",
        ),
        ("{{ $value | printf \"%.1f\" }}", 0.25, "0.2"),
    ];
    for (text, value, want) in cases {
        assert_eq!(alert(text, *value), *want, "{text} with {value}");
    }
}

#[test]
fn failures_expand_to_an_error_text() {
    let cases: &[(&str, &str)] = &[
        (
            "{{ humanize \"x\" }}",
            "<error expanding template: error executing template __alert_Test: template: __alert_Test:1:",
        ),
        (
            "{{ humanize \"x\" }}",
            "error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax>",
        ),
        ("{{ query \"bad\" | first }}", "error calling query: bad query \"bad\""),
        (
            "{{ query \"none\" | first }}",
            "error calling first: first() called on vector with no elements",
        ),
        (
            "{{ if gt $value 80 }}x{{ end }}",
            "error calling gt: incompatible types for comparison",
        ),
        ("{{ $labels.job.x }}", "can't evaluate field x in type string"),
        (
            "{{ $nope }}",
            "<error expanding template: error parsing template __alert_Test: template: __alert_Test:1: undefined variable \"$nope\">",
        ),
        (
            "{{ nosuch 1 }}",
            "<error expanding template: error parsing template __alert_Test: template: __alert_Test:1: function \"nosuch\" not defined>",
        ),
        ("{{ if }}", "error parsing template __alert_Test"),
        ("{{ reReplaceAll \"(\" \"\" \"x\" }}", "error calling reReplaceAll"),
    ];
    for (text, want) in cases {
        let got = alert(text, 1.0);
        assert!(got.contains(want), "{text}: {got}");
        assert!(got.starts_with("<error expanding template: "), "{text}: {got}");
    }
}

#[test]
fn humanize_functions_as_prometheus_tests_them() {
    let run = |f: fn(f64) -> String, xs: &[f64]| xs.iter().map(|&x| f(x) + ":").collect::<String>();
    assert_eq!(run(funcs::humanize, &[0.0, 1.0, 1_234_567.0, 0.12]), "0:1:1.235M:120m:");
    assert_eq!(
        run(funcs::humanize, &[1e-9, 1e27, f64::INFINITY, f64::NAN, -1234.0]),
        "1n:1000Y:+Inf:NaN:-1.234k:"
    );
    assert_eq!(
        run(funcs::humanize1024, &[0.0, 1.0, 1_048_576.0, 0.12]),
        "0:1:1Mi:0.12:"
    );
    assert_eq!(
        run(
            funcs::humanize_duration,
            &[
                0.0,
                1.0,
                60.0,
                3600.0,
                86_400.0,
                86_400.0 + 3600.0,
                -(86_400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
                899.99
            ]
        ),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
    );
    assert_eq!(
        run(
            funcs::humanize_duration,
            &[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]
        ),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
    );
}

#[test]
fn parse_errors() {
    assert!(check_alert_template("A", "{{ $labels.x }} {{ $value | humanize }}").is_ok());
    let e = check_alert_template("A", "{{ if $value }}").unwrap_err();
    assert_eq!(e.to_string(), "template: __alert_A:1: unexpected EOF in if");
    assert!(check_alert_template("A", "{{ foo }}").is_err());
}

/// Outputs checked against `promtool test rules` 2.42 (its `got:` for the same annotations).
#[test]
fn as_promtool_expands_them() {
    let defs_len = ALERT_DEFS.len();
    assert_eq!(defs_len, 112);
    let cases: &[(&str, &str)] = &[
        ("{{ $value }}", "2e+06"),
        (
            "{{ humanize \"x\" }}",
            "<error expanding template: error executing template __alert_Test: template: __alert_Test:1:115: executing \"__alert_Test\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax>",
        ),
        (
            "{{ if gt $value 80 }}x{{ end }}",
            "<error expanding template: error executing template __alert_Test: template: __alert_Test:1:118: executing \"__alert_Test\" at <gt $value 80>: error calling gt: incompatible types for comparison>",
        ),
        (
            "{{ printf \"%d %5.1f|%-4d|%03d\" $value 2.25 7 7 }}",
            "%!d(float64=2e+06)   2.2|7   |007",
        ),
        ("{{ humanizeTimestamp $value }}", "1970-01-24 03:33:20 +0000 UTC"),
        ("{{ title \"aa bb-cc d_e\" }}", "Aa Bb-Cc D_e"),
    ];
    for (text, want) in cases {
        assert_eq!(alert(text, 2e6), *want, "{text}");
    }
}

#[test]
fn hostile_templates_fail_cleanly() {
    let deep_if = "{{ if 1 }}".repeat(500) + &"{{ end }}".repeat(500);
    assert!(
        Template::parse("t", &deep_if)
            .unwrap_err()
            .to_string()
            .contains("levels deep")
    );
    let deep_paren = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(
        Template::parse("t", &deep_paren)
            .unwrap_err()
            .to_string()
            .contains("levels deep")
    );
    assert_eq!(alert("{{ printf \"%.99999999f|\" 1.5 }}", 0.0).len(), 10_003);
    let shallow = "{{ if 1 }}".repeat(50) + "x" + &"{{ end }}".repeat(50);
    assert_eq!(alert(&shallow, 0.0), "x");
}

proptest::proptest! {
    /// Any text parses or fails with an error, and runs or fails without a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "(\\{\\{-? ?|-? ?\\}\\}|[ $.a-z()|\"'`0-9=:,+-]|if |end|range |else|with |printf|humanize|query|é|€){0,40}") {
        let _ = Template::parse("t", &text);
        let _ = alert(&text, 1.5);
    }
}
