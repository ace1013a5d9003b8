//! Names shared by every stage: which API, which error dialect.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One of the APIs vkconform covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// OpenVK: `/method/Section.name` and `/token` (seed `000_…`).
    Openvk,
    /// Devino's VK messaging gateway: `POST /vk/messages` (seed `001_…`).
    Devino,
    /// OK.ru graph messages: `GET /graph/me/messages` (seed `003_…`).
    Ok,
}

impl Api {
    /// Every API, in report order.
    pub const ALL: [Api; 3] = [Api::Openvk, Api::Devino, Api::Ok];

    /// The lower-case id used in file paths, CLI flags and case ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Openvk => "openvk",
            Api::Devino => "devino",
            Api::Ok => "ok",
        }
    }

    /// Parses an API id (`openvk`, `devino`, `ok`).
    pub fn parse(s: &str) -> Option<Api> {
        match s.to_ascii_lowercase().as_str() {
            "openvk" => Some(Api::Openvk),
            "devino" => Some(Api::Devino),
            "ok" => Some(Api::Ok),
            _ => None,
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two dialects of the OpenVK/VK API (see DESIGN.md "Profiles").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The OpenVK document: error fields at the top level, HTTP 400 on errors.
    #[default]
    Openvk,
    /// What VK client libraries expect: `{"error": {...}}` with HTTP 200.
    Vk,
}

impl Profile {
    /// The lower-case id.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Openvk => "openvk",
            Profile::Vk => "vk",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
