//! The `foresight` command line (being written).
fn main() {}
