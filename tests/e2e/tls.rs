//! HTTPS with `--tls-cert`/`--tls-key`: writes and queries through a client that trusts a
//! self-signed certificate, and the certificate reloaded when its files change (a pair that does
//! not load keeps the previous one).

// Test support: a failed unwrap here is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::harness::{TestServer, tempdir};

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
pub(crate) fn self_signed() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// Replaces a file through a rename, as certificate renewal tools do.
pub(crate) fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A client trusting only `cert_pem`.
pub(crate) fn client(cert_pem: &str) -> ureq::Agent {
    let cert = Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(vec![cert])))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// A server on HTTPS with the certificate and key files, once ready: the server, its base URL
/// and a client trusting `cert_pem`.
pub(crate) fn spawn_https(dir: &Path, cert: &Path, key: &Path, cert_pem: &str) -> (TestServer, String, ureq::Agent) {
    let s = TestServer::spawn(
        dir,
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    );
    let base = format!("https://{}", s.addr);
    let a = client(cert_pem);
    // Ready once the WAL is replayed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&a, &format!("{base}/-/ready")).map(|r| r.0) != Ok(200) {
        assert!(Instant::now() < deadline, "not ready over https; log:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    (s, base, a)
}

/// Status and body of a GET, or the transport error (a refused certificate).
pub(crate) fn get(agent: &ureq::Agent, url: &str) -> Result<(u16, String), String> {
    let mut resp = agent.get(url).call().map_err(|e| e.to_string())?;
    let body = resp.body_mut().read_to_string().map_err(|e| e.to_string())?;
    Ok((resp.status().as_u16(), body))
}

#[test]
fn https_serves_writes_and_queries_and_reloads_the_certificate() {
    let dir = tempdir();
    let certs = tempdir();
    let (cert_path, key_path) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let (cert_a, key_a) = self_signed();
    replace(&cert_path, &cert_a);
    replace(&key_path, &key_a);
    let (s, base, a) = spawn_https(dir.path(), &cert_path, &key_path, &cert_a);
    assert!(s.log().contains("listening on https://"), "{}", s.log());

    let r = a
        .post(format!("{base}/write?precision=s"))
        .send("tls,host=a v=1.5 1700000000\n")
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (code, body) = get(&a, &format!("{base}/api/v1/query?query=tls_v&time=1700000000")).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"1.5\""), "{body}");

    // Plain HTTP on the TLS port gets no answer, and a client that does not trust the certificate
    // refuses the connection.
    let plain: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    assert!(plain.get(format!("http://{}/-/healthy", s.addr)).call().is_err());
    let (cert_b, key_b) = self_signed();
    let b = client(&cert_b);
    assert!(get(&b, &format!("{base}/-/healthy")).is_err());

    // New files: new connections get the new certificate (checked at most once a second).
    replace(&key_path, &key_b);
    replace(&cert_path, &cert_b);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = get(&client(&cert_b), &format!("{base}/-/healthy")) {
            break;
        }
        assert!(Instant::now() < deadline, "certificate not reloaded; log:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(get(&client(&cert_a), &format!("{base}/-/healthy")).is_err());
    assert!(s.log().contains("TLS certificate reloaded"), "{}", s.log());

    // A broken certificate file: logged, and the previous certificate stays in service.
    replace(&cert_path, "not a certificate\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.log().contains("keeping the previous one") {
        assert!(
            Instant::now() < deadline,
            "bad certificate not reported; log:\n{}",
            s.log()
        );
        let _ = get(&client(&cert_b), &format!("{base}/-/healthy"));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(get(&client(&cert_b), &format!("{base}/-/healthy")).unwrap().0, 200);
    s.stop();
}

#[test]
fn tls_cert_without_key_is_refused() {
    let dir = tempdir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_foresight"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls-cert and tls-key go together"), "{err}");
}
