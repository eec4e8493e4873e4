//! `lineout staff create`: a staff account of the console. The password never appears
//! on the command line (where other users could read it in the process list): it comes
//! from `LINEOUT_STAFF_PASSWORD` or one line of standard input.

use crate::error::{Error, Result};
use lineout_app::Engine;
use lineout_app::staff::StaffRole;

/// The variable a script may pass the new password in.
pub const PASSWORD_VAR: &str = "LINEOUT_STAFF_PASSWORD";

/// Parses a role name.
pub fn role(name: &str) -> Result<StaffRole> {
    StaffRole::parse(name)
        .ok_or_else(|| Error::Usage(format!("--role: '{name}' is not a role (agent, reviewer, warehouse or admin)")))
}

/// Creates the account; returns its id.
pub async fn create(
    engine: &Engine,
    username: String,
    name: String,
    role: StaffRole,
    password: String,
) -> Result<String> {
    let record = engine.create_staff(username, name, role, password).await?;
    Ok(record.id)
}

fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var(PASSWORD_VAR) {
        return Ok(p);
    }
    eprintln!("password (at least {} characters), then Enter:", lineout_app::staff::MIN_PASSWORD_CHARS);
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| Error::Usage(format!("could not read the password: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `lineout staff create`.
pub fn command(engine: Engine, username: String, name: String, role_name: String) -> Result<()> {
    let role = role(&role_name)?;
    let password = read_password()?;
    let shown = username.clone();
    let id = crate::block_on_engine(engine, async |engine| create(engine, username, name, role, password).await)?;
    eprintln!("staff account {shown} ({id}) created with role {}", role.as_str());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_checked() {
        assert_eq!(role("reviewer").ok(), Some(StaffRole::Reviewer));
        assert!(role("root").is_err());
    }
}
