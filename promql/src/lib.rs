//! PromQL evaluation for foresight (being written).
