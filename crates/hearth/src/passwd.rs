//! `hearth passwd FILE USER`: maintain a Mosquitto-style password file with argon2id
//! hashes, reading the password from stdin so it never appears in shell history.

use anyhow::Context;
use std::io::BufRead;

use crate::cli::PasswdArgs;

pub fn run(args: PasswdArgs) -> anyhow::Result<()> {
    if args.username.is_empty() || args.username.contains(':') {
        anyhow::bail!("user name must be non-empty and contain no ':'");
    }
    let existing = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", args.file.display()));
        }
    };
    let prefix = format!("{}:", args.username);
    let mut lines: Vec<String> = existing
        .lines()
        .filter(|line| !line.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    if args.delete {
        if lines.len() == existing.lines().count() {
            anyhow::bail!("user {:?} is not in {}", args.username, args.file.display());
        }
    } else {
        eprintln!("password for {} (read from stdin):", args.username);
        let mut password = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut password)
            .context("reading the password")?;
        let password = password.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            anyhow::bail!("empty password");
        }
        lines.push(format!(
            "{}:{}",
            args.username,
            hearth_broker::file_auth::hash_password(password)
        ));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&args.file, text).with_context(|| format!("writing {}", args.file.display()))?;
    Ok(())
}
