//! Bearer tokens for tests: hand-made claims signed with a test secret, for the cases the
//! server's own `mint` refuses to make (expired, forged, wrong audience).

use serde_json::Value;

/// An HS256 token with `claims`, signed with `secret`.
pub fn hs256(claims: Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).expect("secret"),
    )
    .expect("sign")
}
