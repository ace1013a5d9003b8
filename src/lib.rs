//! # vkconform
//!
//! Decides whether a server really speaks the VK-family APIs (OpenVK, Devino's
//! VK messaging gateway, OK.ru graph messages) and gives client developers a
//! faithful stand-in server to test against.
//!
//! One catalog of JSON Schemas (`schemas/`) drives everything:
//!
//! ```text
//!  schemas/ ──► schema::Catalog ──┬──► mock (answers from snapshots/, validates requests)
//!                                 │
//!  suites/  ──► suite::Suite ─────┴──► runner ──► validate ──► report ──► human | json | junit | html
//!                                       │
//!                                       └──► record ──► snapshots/
//! ```
//!
//! Stages pass typed values and never print; `vk` holds the VK-specific wire
//! rules (parameter coercion, error envelopes) that the mock and the runner
//! share, and `redact` removes secrets before anything is logged, recorded or
//! reported.
//!
//! ## Starting the mock inside a test
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let mock = vkconform::mock::MockServer::start(vkconform::mock::MockConfig::default()).await?;
//! let url = format!("{}/method/users.get?user_ids=1", mock.uri());
//! let body: serde_json::Value = reqwest::get(url).await?.json().await?;
//! assert_eq!(body["response"][0]["id"], 1);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod cli;
pub mod embedded;
pub mod exit;
pub mod fuzz;
pub mod mock;
pub mod record;
pub mod redact;
pub mod report;
pub mod runner;
pub mod schema;
pub mod suite;
pub mod validate;
pub mod vk;
