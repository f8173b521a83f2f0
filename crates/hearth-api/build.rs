//! Re-embeds the web app when `web/dist` changes. rust-embed's derive only tracks the
//! files it found; without this, a `dist` built after a first `cargo build` (or a new
//! hashed file) would not be picked up until `hearth-api` was rebuilt for another reason.

fn main() {
    let dist = std::path::Path::new("../../web/dist");
    if dist.is_dir() {
        println!("cargo::rerun-if-changed=../../web/dist");
    } else {
        // Watching the absent folder would rerun this on every build; the folder above
        // changes when `npm run build` creates it.
        println!("cargo::rerun-if-changed=../../web");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
