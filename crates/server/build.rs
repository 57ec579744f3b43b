//! Rebuilds the server when a migration changes (`sqlx::migrate!` embeds `sql/sqlite`
//! and `sql/postgres`), and embeds the built web client: every file of
//! `crates/web/dist` (written by `scripts/build-web.sh`) when it holds a complete build,
//! nothing otherwise (the server then explains at `/` how to build it).

use std::path::{Path, PathBuf};

/// The files a complete build of the web client has.
const REQUIRED: [&str; 3] = ["index.html", "tuitalk_web.js", "tuitalk_web_bg.wasm"];

fn main() {
    println!("cargo:rerun-if-changed=../../sql/sqlite");
    println!("cargo:rerun-if-changed=../../sql/postgres");
    // The directory is in git (with only its .gitignore), so it always exists and a
    // change to any file in it reruns this script.
    println!("cargo:rerun-if-changed=../web/dist");
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist");
    let mut code = String::from("/// The web client's files, embedded at build time.\n");
    code.push_str("pub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    for (name, path) in web_files(&dist) {
        code.push_str(&format!("    ({name:?}, include_bytes!({path:?})),\n"));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("web_assets.rs"), code).expect("write web_assets.rs");
}

/// The (name, absolute path) of every regular, not hidden file of `dist`, when it holds
/// a complete build.
fn web_files(dist: &Path) -> Vec<(String, PathBuf)> {
    if !REQUIRED.iter().all(|name| dist.join(name).is_file()) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dist) else {
        return Vec::new();
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            let path = entry.path().canonicalize().ok()?;
            (!name.starts_with('.') && path.is_file()).then_some((name, path))
        })
        .collect();
    files.sort();
    files
}
