//! Studio Vault's signal processing.
//!
//! Everything here is pure: callers hand in readers and sample buffers, nothing opens files or
//! sockets, so each piece can be benchmarked and fuzzed on its own.

mod probe;

pub use probe::{AudioInfo, Container, ProbeError, probe};
