//! The `studiovault` binary: the command line of [`studiovault`].

fn main() -> std::process::ExitCode {
    studiovault::main()
}
