//! Embeds `dist/` (the committed bundle, see `web/build.mjs`): each file is gzipped here, once,
//! and `$OUT_DIR/assets.rs` lists every file with its plain and gzip bytes (`include_bytes!`),
//! its content type, an ETag (FNV-1a of the content) and whether its name is content-hashed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dist = manifest.join("dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    walk(&dist, &mut files);
    files.sort();
    let mut table = String::from("/// Every embedded file, sorted by path.\npub(crate) static ASSETS: &[Asset] = &[\n");
    for (i, file) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", file.display());
        let rel = file.strip_prefix(&dist).expect("walked under dist");
        let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
        let body = std::fs::read(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&body).expect("gzip into memory");
        let gz = gz.finish().expect("gzip into memory");
        let gz_path = out.join(format!("asset{i}.gz"));
        std::fs::write(&gz_path, &gz).unwrap_or_else(|e| panic!("writing {}: {e}", gz_path.display()));
        let etag = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        // esbuild names bundled files name-HASH.ext (entryNames in web/build.mjs).
        let hashed = url.starts_with("/assets/");
        writeln!(
            table,
            "    Asset {{ path: {url:?}, content_type: {:?}, etag: \"\\\"{etag:016x}\\\"\", immutable: {hashed}, \
             body: include_bytes!({:?}), gzip: include_bytes!({:?}) }},",
            content_type(file),
            file.display().to_string(),
            gz_path.display().to_string(),
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    std::fs::write(out.join("assets.rs"), table).expect("writing assets.rs");
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("listing dist").path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
