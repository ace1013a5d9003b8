//! Error codes and messages, as OpenVK and VK send them.

/// Unknown error / not implemented.
pub const UNKNOWN: i64 = 1;
/// Unknown method passed.
pub const UNKNOWN_METHOD: i64 = 3;
/// User authorization failed.
pub const AUTH: i64 = 5;
/// Too many requests per second (VK).
pub const TOO_MANY: i64 = 6;
/// Permission denied / invalid grant type.
pub const ACCESS_DENIED: i64 = 7;
/// Flood control (OpenVK's per-user event limiter).
pub const FLOOD: i64 = 9;
/// Internal server error (VKScript syntax in `execute`).
pub const EXECUTE_COMPILE: i64 = 12;
/// Runtime error while executing VKScript.
pub const EXECUTE_RUNTIME: i64 = 13;
/// Captcha needed.
pub const CAPTCHA: i64 = 14;
/// Access denied.
pub const FORBIDDEN: i64 = 15;
/// Invalid username or password / invalid 2FA code (`/token`).
pub const BAD_CREDENTIALS: i64 = 28;
/// Rate limit reached (OpenVK's per-IP write limiter).
pub const RATE_LIMIT: i64 = 29;
/// One of the parameters specified was missing or invalid.
pub const PARAM: i64 = 100;

/// The text OpenVK sends for a code vkconform raises itself.
pub fn message(code: i64) -> &'static str {
    match code {
        UNKNOWN => "Unknown error occurred",
        UNKNOWN_METHOD => "Unknown method passed.",
        AUTH => "User authorization failed: no access_token passed.",
        TOO_MANY => "Too many requests per second",
        ACCESS_DENIED => "Access denied",
        FLOOD => "Rate limited",
        CAPTCHA => "Captcha needed",
        FORBIDDEN => "Access denied",
        BAD_CREDENTIALS => "Invalid username or password",
        RATE_LIMIT => "You have been rate limited.",
        PARAM => "One of the parameters specified was missing or invalid",
        _ => "Unknown error occurred",
    }
}
