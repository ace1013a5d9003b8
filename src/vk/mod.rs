//! VK-specific wire rules shared by the mock and the runner: how parameters
//! travel (merged query and form, lists, flags) and how answers are wrapped
//! (`{"response": …}`, the two error dialects).

pub mod codes;
pub mod envelope;
pub mod params;

pub use envelope::{classify, error_body, request_params, Answer, ApiError};
pub use params::{coerce, ParamError, WireParams};
