//! Placeholder: this benchmark is being written.
fn main() {}
