//! `lineout token create`: issues an API token and prints its secret once (only its
//! hash is stored).

use crate::error::{Error, Result};
use lineout_app::Engine;

/// Most scopes one token may carry.
pub const MAX_SCOPES: usize = 16;

/// Checks scope names: `resource:action` or a single word, lower-case, at most 64 characters.
pub fn check_scopes(scopes: &[String]) -> Result<()> {
    if scopes.is_empty() || scopes.len() > MAX_SCOPES {
        return Err(Error::Usage(format!("--scope: give 1-{MAX_SCOPES} scopes")));
    }
    for s in scopes {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.split(':').count() <= 2
            && s.split(':').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        if !ok {
            return Err(Error::Usage(format!("--scope: '{s}' is not a scope (use e.g. cases:read)")));
        }
    }
    Ok(())
}

/// Creates the token; returns its id and secret.
pub async fn create(engine: &Engine, scopes: Vec<String>, label: String) -> Result<(String, String)> {
    check_scopes(&scopes)?;
    let label = lineout_domain::values::parse_text(&label, 100).map_err(|e| Error::Usage(format!("--label: {e}")))?;
    let (record, secret) = engine.create_token(scopes, label).await?;
    Ok((record.id, secret))
}

/// `lineout token create`.
pub fn command(engine: Engine, scopes: Vec<String>, label: String) -> Result<()> {
    let shown = scopes.join(" ");
    let (id, secret) = crate::block_on_engine(engine, async |engine| create(engine, scopes, label).await)?;
    println!("{secret}");
    eprintln!("token {id} created with scopes: {shown}");
    eprintln!("the secret above is shown only once; store it now");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked() {
        assert!(check_scopes(&["cases:read".into(), "admin".into()]).is_ok());
        assert!(check_scopes(&[]).is_err());
        assert!(check_scopes(&["Cases:Read".into()]).is_err());
        assert!(check_scopes(&["a:b:c".into()]).is_err());
        assert!(check_scopes(&["cases:".into()]).is_err());
    }
}
