//! The driver and the whole bench against a tiny HTTP server on 127.0.0.1:0 in this process.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foresight_loadgen::{
    BenchOptions, ConcurrentQueries, Flavor, FlushPlan, Generator, LoadSettings, Precision, QueryApi, StopReason,
    Target, WorkloadSpec, WriteSettings, ingest, run_bench,
};
use indicatif::ProgressBar;

/// What the fake server saw and how it answers.
#[derive(Default)]
struct Server {
    stop: AtomicBool,
    requests: AtomicU64,
    writes: AtomicU64,
    lines: AtomicU64,
    active: AtomicU64,
    max_active: AtomicU64,
    /// Bodies of the writes, in arrival order.
    bodies: Mutex<Vec<Vec<u8>>>,
    /// Paths (with query) of every request.
    paths: Mutex<Vec<String>>,
    /// Milliseconds each write takes.
    delay_ms: u64,
    /// Answer the n-th write (1-based) with 400.
    fail_write: Option<u64>,
}

struct Running {
    server: Arc<Server>,
    url: String,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(server: Server) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = Arc::new(server);
    let s = server.clone();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !s.stop.load(Ordering::Acquire) && Instant::now() < deadline {
            match listener.accept() {
                Ok((conn, _)) => {
                    let s = s.clone();
                    std::thread::spawn(move || serve(conn, &s));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    Running {
        server,
        url,
        thread: Some(thread),
    }
}

/// Answers keep-alive requests on one connection until it closes.
fn serve(conn: TcpStream, s: &Server) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        if r.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).unwrap();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        s.requests.fetch_add(1, Ordering::AcqRel);
        s.paths.lock().unwrap().push(format!("{method} {path}"));
        let (status, reply): (&str, String) = if path.starts_with("/write") {
            let n = s.writes.fetch_add(1, Ordering::AcqRel) + 1;
            let now = s.active.fetch_add(1, Ordering::AcqRel) + 1;
            s.max_active.fetch_max(now, Ordering::AcqRel);
            std::thread::sleep(Duration::from_millis(s.delay_ms));
            s.active.fetch_sub(1, Ordering::AcqRel);
            if s.fail_write == Some(n) {
                ("400 Bad Request", "line 3: invalid field".into())
            } else {
                s.lines
                    .fetch_add(body.iter().filter(|&&b| b == b'\n').count() as u64, Ordering::AcqRel);
                s.bodies.lock().unwrap().push(body);
                ("204 No Content", String::new())
            }
        } else if path.starts_with("/-/ready") {
            ("200 OK", "ready".into())
        } else if path.starts_with("/metrics") {
            (
                "200 OK",
                "# TYPE foresight_build_info gauge\nforesight_build_info{version=\"0\"} 1\n\
                 foresight_head_series 4200\nprocess_resident_memory_bytes 1000000\n\
                 foresight_process_peak_resident_memory_bytes 3000000\n"
                    .into(),
            )
        } else if path.starts_with("/api/v1/query_range") {
            (
                "200 OK",
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#
                    .into(),
            )
        } else if path.starts_with("/api/v1/query") {
            (
                "200 OK",
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"5"]}]}}"#
                    .into(),
            )
        } else if path.starts_with("/api/v1/admin/flush") {
            ("200 OK", r#"{"status":"success","data":{}}"#.into())
        } else {
            ("404 Not Found", "no such path".into())
        };
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n", reply.len());
        if out.write_all(head.as_bytes()).is_err() || out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn spec(hosts: u32, hours: u64) -> WorkloadSpec {
    WorkloadSpec {
        hosts,
        duration_ms: hours * 3_600_000,
        ..WorkloadSpec::default()
    }
}

fn write_settings() -> WriteSettings {
    WriteSettings {
        flavor: Flavor::Influx1,
        db: "bench".into(),
        org: String::new(),
        precision: Precision::S,
    }
}

fn load(writers: usize, batch: usize) -> LoadSettings {
    LoadSettings {
        writers,
        batch_lines: batch,
        time_limit_s: Some(60.0),
        request_timeout_s: 10.0,
        ..LoadSettings::default()
    }
}

fn run(url: &str, spec: &WorkloadSpec, load: &LoadSettings) -> foresight_loadgen::IngestOutcome {
    let target = Target::parse(url, false).unwrap();
    ingest(
        &target,
        &write_settings(),
        load,
        Generator::new(spec).unwrap(),
        &ConcurrentQueries {
            queries: &[],
            api: QueryApi::None,
            db: "bench",
        },
        &ProgressBar::hidden(),
    )
    .unwrap()
}

#[test]
fn every_batch_arrives_with_concurrent_writers() {
    for pregenerate in [false, true] {
        let srv = start(Server {
            delay_ms: 5,
            ..Server::default()
        });
        let spec = spec(10, 1); // 10 hosts x 360 ticks = 3600 lines
        let l = LoadSettings {
            pregenerate,
            ..load(3, 100)
        };
        let out = run(&srv.url, &spec, &l);
        let s = &srv.server;
        assert_eq!(out.stopped_by, StopReason::Complete);
        assert_eq!(out.acked.lines, 3600);
        assert_eq!(out.acked.samples, 36_000);
        assert_eq!(out.batches_sent, 36);
        assert_eq!(out.latencies_s.len(), 36);
        assert_eq!(out.errors.failed, 0);
        assert_eq!(out.errors.status_counts.get(&204), Some(&36));
        assert_eq!(s.lines.load(Ordering::Acquire), 3600);
        assert_eq!(s.writes.load(Ordering::Acquire), 36);
        let max_active = s.max_active.load(Ordering::Acquire);
        assert!((2..=3).contains(&max_active), "{max_active} writes at once");
        assert!(
            s.paths
                .lock()
                .unwrap()
                .iter()
                .all(|p| p == "POST /write?db=bench&precision=s")
        );
    }
}

#[test]
fn one_writer_sends_the_generator_stream_in_order() {
    let srv = start(Server::default());
    let spec = WorkloadSpec {
        out_of_order: 0.05,
        churn: 0.2,
        ..spec(5, 2)
    };
    let out = run(&srv.url, &spec, &load(1, 250));
    assert_eq!(out.stopped_by, StopReason::Complete);
    let sent: Vec<u8> = srv.server.bodies.lock().unwrap().concat();
    let mut expected = Vec::new();
    let mut g = Generator::new(&spec).unwrap();
    while g.fill(&mut expected, 1 << 20).lines > 0 {}
    assert!(sent == expected, "the server did not get the generator's bytes");
}

#[test]
fn batch_limit_stops_the_load() {
    let srv = start(Server::default());
    let out = run(
        &srv.url,
        &spec(100, 24),
        &LoadSettings {
            max_batches: Some(5),
            ..load(4, 1000)
        },
    );
    assert_eq!(out.stopped_by, StopReason::MaxBatches);
    assert_eq!(out.batches_sent, 5);
    assert_eq!(srv.server.writes.load(Ordering::Acquire), 5);
}

#[test]
fn time_limit_stops_the_load() {
    let srv = start(Server {
        delay_ms: 20,
        ..Server::default()
    });
    let t = Instant::now();
    let out = run(
        &srv.url,
        &spec(1000, 24),
        &LoadSettings {
            time_limit_s: Some(0.3),
            ..load(2, 500)
        },
    );
    assert_eq!(out.stopped_by, StopReason::TimeLimit);
    assert!(out.batches_sent > 0);
    assert!(out.acked.lines < 1000 * 8640);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn errors_are_counted_and_can_stop_the_load() {
    let srv = start(Server {
        fail_write: Some(3),
        ..Server::default()
    });
    let out = run(&srv.url, &spec(10, 1), &load(1, 100));
    assert_eq!(out.stopped_by, StopReason::Complete);
    assert_eq!(out.errors.failed, 1);
    assert_eq!(out.errors.status_counts.get(&400), Some(&1));
    assert_eq!(out.errors.first, ["HTTP 400: line 3: invalid field"]);
    assert_eq!(out.acked.lines, 3500);

    let srv = start(Server {
        fail_write: Some(2),
        ..Server::default()
    });
    let out = run(
        &srv.url,
        &spec(10, 1),
        &LoadSettings {
            stop_on_error: true,
            ..load(1, 100)
        },
    );
    assert_eq!(out.stopped_by, StopReason::Error);
    assert_eq!(out.batches_sent, 2);
}

#[test]
fn a_dead_target_gives_transport_errors_not_a_panic() {
    // Bind and drop: nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = run(
        &format!("http://127.0.0.1:{port}"),
        &spec(10, 1),
        &LoadSettings {
            max_batches: Some(3),
            ..load(1, 1000)
        },
    );
    assert_eq!(out.errors.transport_errors, 3);
    assert_eq!(out.acked.lines, 0);
    assert!(out.errors.first[0].starts_with("transport:"));
}

#[test]
fn the_whole_bench_against_a_fake_foresight() {
    let srv = start(Server::default());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("block"), vec![0u8; 36_000]).unwrap();
    let spec = spec(10, 1);
    let opts = BenchOptions {
        target: Target::parse(&srv.url, false).unwrap(),
        label: None,
        workload: spec.clone(),
        write: write_settings(),
        load: LoadSettings {
            query_clients: 1,
            ..load(2, 500)
        },
        query_api: QueryApi::Prom,
        query_reps: 2,
        query_time_limit: Duration::from_secs(30),
        only_queries: vec![],
        pid: Some(std::process::id()),
        data_dir: Some(dir.path().to_path_buf()),
        flush: FlushPlan::Auto,
        settle_max: Duration::ZERO,
        settle_stable: Duration::from_secs(1),
        verify: true,
        preloaded: false,
        wait_ready: Duration::from_secs(5),
        progress: false,
    };
    let r = run_bench(&opts).unwrap();
    assert_eq!(r.target_kind, "foresight");
    assert_eq!(r.label, "foresight");
    assert_eq!(r.ingest.samples_ok, 36_000);
    assert!(r.ingest.samples_per_s > 0.0);
    assert_eq!(r.ingest.latency.count, 8);
    // 8 standard queries, each once plus 2 repetitions.
    assert_eq!(r.queries.len(), 8);
    assert!(r.queries.iter().all(|q| q.error.is_none() && q.latency.count == 2));
    assert_eq!(r.queries[0].series, 1);
    assert_eq!(r.queries[0].points, 2);
    assert_eq!(r.query_errors.failed, 0);
    let disk = r.disk.as_ref().unwrap();
    assert_eq!(disk.flush, ["/api/v1/admin/flush: HTTP 200"]);
    assert_eq!(disk.usage.apparent_bytes, 36_000);
    assert_eq!(disk.apparent_bytes_per_sample, Some(1.0));
    // The fake answers 5 for each of the 10 count queries: 50, not 36,000.
    let v = r.verify.as_ref().unwrap();
    assert_eq!((v.expected, v.found, v.ok), (36_000, Some(50.0), false));
    let server = r.server.as_ref().unwrap();
    assert_eq!(server.metrics.get("foresight_head_series"), Some(&4200.0));
    assert!(server.peak_rss_bytes.is_some_and(|b| b > 0));
    assert!(server.cpu_s_per_million_samples.is_some());
    let paths = srv.server.paths.lock().unwrap().clone();
    assert!(paths.iter().any(|p| p == "POST /api/v1/admin/flush"));
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("GET /api/v1/query_range?query=max_over_time"))
    );
    let text = r.render();
    assert!(
        text.contains("verify    stored cpu samples 50 of 36000: MISMATCH"),
        "{text}"
    );
}
