//! The `vkconform` binary: a thin shell over the library (see `vkconform::cli`).

fn main() -> std::process::ExitCode {
    vkconform::cli::main()
}
