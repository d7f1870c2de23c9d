//! foresight-engine: the storage engine of foresight (being written).

pub mod column;
pub mod gorilla;
pub mod lineproto;
