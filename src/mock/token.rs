//! `/token` (also `/token/` and `/oauth/token`): password login with
//! optional TOTP 2FA, in the order a real OpenVK checks (openvk-behavior.md §2):
//! grant type → 7, username/password missing → 100, bad credentials → 28,
//! 2FA code missing → HTTP 401 `need_validation`, wrong code → 28.

use super::openvk::{json_response, read_request};
use super::state::MockState;
use crate::vk::{codes, error_body, request_params, ApiError};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;
use totp_rs::{Algorithm, Secret, TOTP};

/// The `method` value OpenVK echoes for `/token` errors.
pub const TOKEN_METHOD: &str = "internal.acquireToken";

/// The 6-digit TOTP code for a base32 secret at `now + offset_steps * 30 s`.
pub fn totp_now(secret_b32: &str, offset_steps: i64) -> Result<String, String> {
    let totp = make_totp(secret_b32)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs() as i64;
    Ok(totp.generate((now + offset_steps * 30).max(0) as u64))
}

fn make_totp(secret_b32: &str) -> Result<TOTP, String> {
    let bytes = Secret::Encoded(secret_b32.trim().replace(' ', "").to_ascii_uppercase())
        .to_bytes()
        .map_err(|e| format!("{e:?}"))?;
    Ok(TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes))
}

/// Checks a 2FA code against a secret (one 30 s step of clock skew either way).
pub fn totp_valid(secret_b32: &str, code: &str) -> bool {
    let Ok(totp) = make_totp(secret_b32) else {
        return false;
    };
    let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) else {
        return false;
    };
    code.len() == 6 && totp.check(code, now.as_secs())
}

pub(super) async fn handle(State(st): State<Arc<MockState>>, req: Request) -> Response {
    let inc = match read_request(&st, req).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let profile = st.config.profile;
    let w = &inc.wire;
    let fail = |err: ApiError| {
        let (status, body) = error_body(profile, &err, request_params(profile, w, TOKEN_METHOD));
        json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            &body,
        )
    };
    if w.get("grant_type") != Some("password") {
        return fail(ApiError::new(codes::ACCESS_DENIED, "Invalid grant type"));
    }
    let (Some(username), Some(password)) = (
        w.get("username").filter(|s| !s.is_empty()),
        w.get("password").filter(|s| !s.is_empty()),
    ) else {
        return fail(ApiError::new(
            codes::PARAM,
            "Password and username not passed",
        ));
    };
    let Some(account) = st.accounts.get(username).filter(|a| a.password == password) else {
        return fail(ApiError::new(
            codes::BAD_CREDENTIALS,
            "Invalid username or password",
        ));
    };
    if let Some(secret) = &account.totp_secret {
        match w.get("code").map(str::trim).filter(|c| !c.is_empty()) {
            None => {
                let body = json!({
                    "error": "need_validation",
                    "error_description": "use app code",
                    "validation_type": "2fa_app",
                    "validation_sid": format!("2fa_{}_2839041_randommessdontread", account.user_id),
                    "phone_mask": "+374 ** *** 420",
                    "redirect_uri": format!("{}/2fa", st.base_url()),
                    "validation_resend": "nowhere"
                });
                return json_response(StatusCode::UNAUTHORIZED, &body);
            }
            Some(code) if !totp_valid(secret, code) => {
                return fail(ApiError::new(codes::BAD_CREDENTIALS, "Invalid 2FA code"))
            }
            Some(_) => {}
        }
    }
    let token = st.issue_token(account.user_id);
    json_response(
        StatusCode::OK,
        &json!({"access_token": token, "expires_in": 0, "user_id": account.user_id, "is_stale": false}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_code_is_valid_and_a_wrong_one_is_not() {
        let code = totp_now("JBSWY3DPEHPK3PXP", 0).unwrap();
        assert!(totp_valid("JBSWY3DPEHPK3PXP", &code));
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert!(!totp_valid("JBSWY3DPEHPK3PXP", &wrong));
    }
}
