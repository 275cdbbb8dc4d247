// refinery embeds `migrations/` at compile time; a new file there must rebuild the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
