//! Integration tests of foresight-promql: the data-driven query cases, property tests and API
//! behaviour (limits, errors), built as one test binary.

mod api;
mod cases;
mod props;
mod rollups;
mod script;
