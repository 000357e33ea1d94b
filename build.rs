//! Rebuilds when a scaffold file changes, since `include_dir!` embeds them.
fn main() {
    println!("cargo:rerun-if-changed=scaffold-templates");
    println!("cargo:rerun-if-changed=src/client");
}
