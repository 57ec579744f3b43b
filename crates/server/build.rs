//! Rebuilds the server when a migration changes: `sqlx::migrate!` embeds `sql/sqlite`.

fn main() {
    println!("cargo:rerun-if-changed=../../sql/sqlite");
}
