//! The JSON report: the [`Report`] model serialized as pretty JSON, with
//! `format_version` = [`FORMAT_VERSION`]. Its JSON Schema is
//! `schemas/report/report.v1.json`; tests validate real output against it.

use super::{RenderOptions, Report, FORMAT_VERSION};
use std::io::{self, Write};

/// Path of the report's JSON Schema below `schemas/`.
pub const SCHEMA_PATH: &str = "report/report.v1.json";

/// Writes the JSON report (pretty-printed, newline-terminated).
pub fn render<W: Write + ?Sized>(
    report: &Report,
    out: &mut W,
    _opts: &RenderOptions,
) -> io::Result<()> {
    let value = to_value(report)?;
    let mut text = serde_json::to_string_pretty(&value).map_err(io::Error::other)?;
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// The JSON report as a value; `format_version` is always [`FORMAT_VERSION`],
/// and `access_token=…`-style values that slipped past the runner are masked.
pub fn to_value(report: &Report) -> io::Result<serde_json::Value> {
    let mut value = serde_json::to_value(report).map_err(io::Error::other)?;
    crate::redact::Redactor::default().value(&mut value);
    if let Some(obj) = value.as_object_mut() {
        obj.insert("format_version".into(), FORMAT_VERSION.into());
    }
    Ok(value)
}
