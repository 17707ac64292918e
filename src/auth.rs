//! Authentication and authorization: JWT bearer tokens scoped to projects.
//!
//! A token carries `projects` (a list of project UUIDs, or `"*"`) and `scope`
//! (space-separated: `metrics:read`, `metrics:write`). Keys: HS256 with a shared secret, or
//! RS256/ES256 with a public key file (the algorithm follows the key). `exp` is required,
//! `nbf` checked when present, `iss`/`aud` when configured. With no key configured, auth is
//! off and every request acts with full rights (the server then refuses non-loopback
//! addresses unless told otherwise, see `serve --allow-unauthenticated`).

use std::collections::HashSet;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The scope that allows reading metrics.
pub const READ: &str = "metrics:read";
/// The scope that allows writing metrics.
pub const WRITE: &str = "metrics:write";

/// The projects a token may touch: `"*"` or a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProjectsClaim {
    All(AllProjects),
    List(Vec<Uuid>),
}

/// The literal `"*"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AllProjects {
    #[serde(rename = "*")]
    Star,
}

/// The claims metrics-api reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub projects: ProjectsClaim,
    #[serde(default)]
    pub scope: String,
}

/// What a request may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `None`: every project.
    pub projects: Option<HashSet<Uuid>>,
    pub read: bool,
    pub write: bool,
}

impl Principal {
    /// Full rights: auth is off.
    pub fn unrestricted() -> Self {
        Principal { projects: None, read: true, write: true }
    }

    pub fn can_access(&self, project: Uuid) -> bool {
        self.projects.as_ref().is_none_or(|p| p.contains(&project))
    }

    /// The allowed projects, sorted; `None` for all.
    pub fn allowed(&self) -> Option<Vec<Uuid>> {
        self.projects.as_ref().map(|p| {
            let mut v: Vec<Uuid> = p.iter().copied().collect();
            v.sort();
            v
        })
    }
}

/// Why a request is not authenticated; the message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// How tokens are checked (and, with a shared secret, minted).
#[derive(Clone)]
pub struct AuthConfig {
    decoding: DecodingKey,
    validation: Validation,
    /// HS256 only: the secret also signs tokens (`metrics-api token`).
    encoding: Option<EncodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig").field("algorithms", &self.validation.algorithms).finish_non_exhaustive()
    }
}

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the JWT public key {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the JWT public key {0} is neither an RSA nor an EC (P-256) PEM public key")]
    Format(String),
    #[error("the JWT secret must be at least 32 bytes")]
    ShortSecret,
}

impl AuthConfig {
    fn validation(alg: Algorithm, issuer: &Option<String>, audience: &Option<String>) -> Validation {
        let mut v = Validation::new(alg);
        v.validate_nbf = true;
        v.leeway = 5;
        v.set_required_spec_claims(&["exp"]);
        match issuer {
            Some(i) => v.set_issuer(&[i]),
            None => v.iss = None,
        }
        match audience {
            Some(a) => v.set_audience(&[a]),
            None => v.validate_aud = false,
        }
        v
    }

    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8], issuer: Option<String>, audience: Option<String>) -> Result<Self, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError::ShortSecret);
        }
        let decoding = DecodingKey::from_secret(secret).map_err(|_| KeyError::ShortSecret)?;
        let encoding = EncodingKey::from_secret(secret).map_err(|_| KeyError::ShortSecret)?;
        Ok(AuthConfig {
            decoding,
            validation: Self::validation(Algorithm::HS256, &issuer, &audience),
            encoding: Some(encoding),
            issuer,
            audience,
        })
    }

    /// RS256 or ES256 with a PEM public key file (the algorithm follows the key type).
    pub fn public_key(
        path: &std::path::Path,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Result<Self, KeyError> {
        let pem = std::fs::read(path).map_err(|source| KeyError::Read { path: path.display().to_string(), source })?;
        let (decoding, alg) = match DecodingKey::from_rsa_pem(&pem) {
            Ok(k) => (k, Algorithm::RS256),
            Err(_) => match DecodingKey::from_ec_pem(&pem) {
                Ok(k) => (k, Algorithm::ES256),
                Err(_) => return Err(KeyError::Format(path.display().to_string())),
            },
        };
        Ok(AuthConfig {
            decoding,
            validation: Self::validation(alg, &issuer, &audience),
            encoding: None,
            issuer,
            audience,
        })
    }

    /// Checks a token and returns what it allows.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_claims(token).map(|c| principal(&c))
    }

    /// Checks a token and returns its claims.
    pub fn verify_claims(&self, token: &str) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AuthError::Invalid(describe(&e)))?;
        Ok(data.claims)
    }

    /// Mints a token (HS256 configurations only): for development and tests.
    pub fn mint(&self, projects: ProjectsClaim, scope: &str, ttl: Duration) -> Option<String> {
        let key = self.encoding.as_ref()?;
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            exp: now + ttl.as_secs(),
            nbf: Some(now.saturating_sub(1)),
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: Some("metrics-api token".into()),
            projects,
            scope: scope.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key).ok()
    }
}

/// A client-safe description of a token error (no key material, no internals).
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        ExpiredSignature => "the token has expired".into(),
        ImmatureSignature => "the token is not valid yet (nbf)".into(),
        InvalidIssuer => "wrong issuer (iss)".into(),
        InvalidAudience => "wrong audience (aud)".into(),
        InvalidSignature => "bad signature".into(),
        InvalidAlgorithm | InvalidAlgorithmName => "algorithm not accepted".into(),
        MissingRequiredClaim(c) => format!("missing claim `{c}`"),
        Json(_) => "malformed claims (`projects` must be a list of UUIDs or \"*\")".into(),
        _ => "malformed token".into(),
    }
}

fn principal(c: &Claims) -> Principal {
    let scopes: HashSet<&str> = c.scope.split_whitespace().collect();
    Principal {
        projects: match &c.projects {
            ProjectsClaim::All(_) => None,
            ProjectsClaim::List(ids) => Some(ids.iter().copied().collect()),
        },
        read: scopes.contains(READ),
        write: scopes.contains(WRITE),
    }
}

/// The principal of a request: full rights when auth is off; else the bearer token's.
pub fn authenticate(config: Option<&AuthConfig>, authorization: Option<&str>) -> Result<Principal, AuthError> {
    authenticate_until(config, authorization).map(|(p, _)| p)
}

/// Like [`authenticate`], with the token's `exp` (seconds since the epoch; `None` when
/// auth is off): a long-lived connection (a subscription) ends there.
pub fn authenticate_until(
    config: Option<&AuthConfig>,
    authorization: Option<&str>,
) -> Result<(Principal, Option<u64>), AuthError> {
    let Some(config) = config else { return Ok((Principal::unrestricted(), None)) };
    let header = authorization.ok_or(AuthError::Missing)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| AuthError::Invalid("expected `Authorization: Bearer <token>`".into()))?;
    let claims = config.verify_claims(token.trim())?;
    Ok((principal(&claims), Some(claims.exp)))
}

/// Parses `--projects`: `*` or a comma-separated list of UUIDs.
pub fn parse_projects(s: &str) -> Result<ProjectsClaim, String> {
    if s.trim() == "*" {
        return Ok(ProjectsClaim::All(AllProjects::Star));
    }
    s.split(',')
        .map(|p| p.trim().parse::<Uuid>().map_err(|_| format!("not a project UUID: {p:?}")))
        .collect::<Result<Vec<_>, _>>()
        .map(ProjectsClaim::List)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig::hs256(b"0123456789abcdef0123456789abcdef", Some("issuer".into()), None).unwrap()
    }

    #[test]
    fn minted_tokens_round_trip_with_their_rights() {
        let c = config();
        let p = Uuid::from_u128(7);
        let t = c.mint(ProjectsClaim::List(vec![p]), "metrics:read", Duration::from_secs(60)).unwrap();
        let who = authenticate(Some(&c), Some(&format!("Bearer {t}"))).unwrap();
        assert!(who.read && !who.write && who.can_access(p) && !who.can_access(Uuid::nil()));
        let all = c.mint(parse_projects("*").unwrap(), "metrics:read metrics:write", Duration::from_secs(60)).unwrap();
        let who = c.verify(&all).unwrap();
        assert!(who.write && who.can_access(Uuid::nil()));
    }

    #[test]
    fn bad_tokens_are_refused() {
        let c = config();
        assert_eq!(authenticate(Some(&c), None), Err(AuthError::Missing));
        assert!(authenticate(Some(&c), Some("Basic abc")).is_err());
        let other = AuthConfig::hs256(b"another-secret-another-secret-xx", Some("issuer".into()), None).unwrap();
        let t = other.mint(ProjectsClaim::List(vec![]), "metrics:read", Duration::from_secs(60)).unwrap();
        assert_eq!(c.verify(&t), Err(AuthError::Invalid("bad signature".into())));
        assert!(AuthConfig::hs256(b"short", None, None).is_err());
        assert!(parse_projects("x,y").is_err());
        assert_eq!(authenticate(None, None), Ok(Principal::unrestricted()));
    }
}
