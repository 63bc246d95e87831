//! The admin socket: a Unix socket in the data directory (mode 0600, inside a 0700 directory,
//! so only the service user and root reach it), speaking JSON over HTTP under `/v1`. The CLI
//! subcommands and the console are its clients; nothing else is needed to administer the box.

mod server;

pub use server::routes;
