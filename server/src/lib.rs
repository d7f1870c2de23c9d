//! The HTTP API of foresight (being written; see issue 4).
