//! Rebuilds the server when a migration changes: `sqlx::migrate!` embeds `sql/sqlite` and
//! `sql/postgres`.

fn main() {
    println!("cargo:rerun-if-changed=../../sql/sqlite");
    println!("cargo:rerun-if-changed=../../sql/postgres");
}
