//! The stem worker (`studiovault worker run`): a separate process, on the appliance's box or on
//! a GPU box, that leases separation jobs from the appliance over HTTPS with its enrolment
//! token, runs a [`backend`] on the job's source, and uploads the four stems.
//!
//! - [`client`]: the worker API (`studiovault_api::worker`) over HTTPS, trusting the system's
//!   roots or the appliance's own CA (`--ca-file`).
//! - [`backend`]: `builtin` (Spleeter's 2-stem U-Nets in Rust, on CPU, plus a DSP split of the
//!   accompaniment) and `command` (an external separator behind a documented contract).
//! - [`run`]: the loop: lease, fetch, separate while heartbeating, check, upload; a lease lost
//!   (cancelled by the owner, or taken after this worker stalled) stops the work.
//!
//! The source lives only in a private temporary directory while its job runs, and is deleted
//! after, whatever happens; nothing logged names an audio file or its owner.

pub mod backend;
pub mod check;
pub mod client;
pub mod gpu;
pub mod model;
pub mod run;
pub mod wav;

pub use backend::{Backend, BackendError, Separation};
pub use client::{ClientError, WorkerClient};
pub use run::{RunError, WorkerOptions, run};
