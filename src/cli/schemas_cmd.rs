//! `vkconform schemas list | check | show | export`.

use super::{write_stdout, Failure};
use crate::api::Api;
use crate::exit::Exit;
use crate::schema::Catalog;
use std::path::PathBuf;

/// Arguments of `vkconform schemas`.
#[derive(Debug, clap::Args)]
pub struct SchemasArgs {
    /// Read schemas from this directory instead of the ones built into the binary.
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: SchemasAction,
}

/// `schemas` sub-commands.
#[derive(Debug, clap::Subcommand)]
pub enum SchemasAction {
    /// One line per method: api, method, auth.
    List,
    /// Meta-validate and compile every schema (exit 3 on error).
    Check,
    /// Print one self-contained JSON Schema (every $ref bundled).
    Show {
        /// openvk, devino or ok.
        api: String,
        /// Method name (case-insensitive), e.g. Users.get.
        method: String,
        /// The request parameters' schema.
        #[arg(
            long,
            conflicts_with = "response",
            required_unless_present = "response"
        )]
        params: bool,
        /// The response schema (the value inside `{"response": …}` for OpenVK).
        #[arg(long)]
        response: bool,
    },
    /// Export the catalog in another format.
    Export {
        /// Output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// OpenAPI 3.1.
    Openapi,
}

fn load(dir: &Option<PathBuf>) -> Result<Catalog, Failure> {
    let r = match dir {
        Some(d) => Catalog::load_dir(d),
        None => Catalog::embedded(),
    };
    r.map_err(|e| Failure::new(Exit::Load, format!("schema {e}")))
}

/// Runs `schemas`.
pub fn run(args: SchemasArgs) -> Result<Exit, Failure> {
    match args.action {
        SchemasAction::List => {
            let cat = load(&args.dir)?;
            let mut out = String::new();
            for m in Api::ALL.iter().flat_map(|a| cat.methods(*a)) {
                let auth = match (m.api, m.auth) {
                    (Api::Openvk, true) => "token",
                    (Api::Openvk, false) => "none",
                    (Api::Devino, _) => "header",
                    (Api::Ok, _) => "token",
                };
                out.push_str(&format!("{:<7} {:<36} {}\n", m.api.as_str(), m.name, auth));
            }
            write_stdout(out.as_bytes())?;
            Ok(Exit::Success)
        }
        SchemasAction::Check => {
            let cat = load(&args.dir)?;
            let methods = cat.all_methods().len();
            let per_api: Vec<String> = Api::ALL
                .iter()
                .map(|a| format!("{} {}", cat.methods(*a).count(), a))
                .collect();
            write_stdout(
                format!(
                    "ok: {} documents, {methods} methods ({}) meta-validated and compiled\n",
                    cat.files().len(),
                    per_api.join(", ")
                )
                .as_bytes(),
            )?;
            Ok(Exit::Success)
        }
        SchemasAction::Show {
            api,
            method,
            params,
            response: _,
        } => {
            let cat = load(&args.dir)?;
            let api_v = Api::parse(&api).ok_or_else(|| {
                Failure::new(
                    Exit::Usage,
                    format!("unknown API `{api}`; use openvk, devino or ok"),
                )
            })?;
            let spec = cat.method(api_v, &method).ok_or_else(|| {
                Failure::new(Exit::Usage, format!("`{method}` is not a documented {api_v} method; `vkconform schemas list` shows them all"))
            })?;
            let frag = if params {
                "/$defs/params"
            } else {
                "/$defs/response"
            };
            let bundled = cat
                .bundled(&format!("{}#{frag}", spec.id))
                .map_err(|e| Failure::new(Exit::Load, e))?;
            let mut text = serde_json::to_string_pretty(&bundled).expect("JSON serializes");
            text.push('\n');
            write_stdout(text.as_bytes())?;
            Ok(Exit::Success)
        }
        SchemasAction::Export {
            format: ExportFormat::Openapi,
        } => {
            let cat = load(&args.dir)?;
            let doc = crate::schema::openapi_document(&cat);
            let mut text = serde_json::to_string_pretty(&doc).expect("JSON serializes");
            text.push('\n');
            write_stdout(text.as_bytes())?;
            Ok(Exit::Success)
        }
    }
}
