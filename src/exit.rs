//! Exit codes of every command, in one place (DESIGN.md "Exit codes").

/// What a `vkconform` process tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success; for `check`, every required check passed.
    Success = 0,
    /// `check` found conformance failures.
    Findings = 1,
    /// The command line was wrong.
    Usage = 2,
    /// Schemas, suites or snapshots failed to load.
    Load = 3,
    /// The target was unreachable before any check could run.
    Unreachable = 4,
}

impl Exit {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}
