//! Stage 5: the report. One model ([`Report`]) filled by the runner, rendered
//! by every format (human, JSON, JUnit, HTML), each writing to `impl Write`.
//! Renderers never see secrets: the runner redacts before it builds the model.

pub mod model;

pub use model::*;

use std::io::{self, Write};

/// Output formats of `vkconform check --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// For people at a terminal.
    #[default]
    Human,
    /// Versioned JSON (`schemas/report/report.v1.json`).
    Json,
    /// JUnit XML, one testcase per case.
    Junit,
    /// One self-contained HTML file.
    Html,
}

/// Options every renderer honours.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// ANSI colours (human format only).
    pub color: bool,
}

/// Renders a report in a format.
pub fn render(report: &Report, format: Format, out: &mut dyn Write, _opts: &RenderOptions) -> io::Result<()> {
    // Placeholder: every format renders as JSON until the renderers land.
    let _ = format;
    serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
