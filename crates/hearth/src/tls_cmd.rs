//! `hearth tls dev-cert`: a local CA and a server certificate for a hub on a home
//! network or a developer's machine, where no public CA can issue one (see docs/tls.md).

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

use crate::certs::{LocalCa, create_dir, write_private, write_public};

/// The local CA's certificate in the output directory: the file to trust.
pub const CA_CERT_FILE: &str = "hearth-ca.pem";
/// The local CA's key (mode 0600): keep it, or delete it once you need no more
/// certificates from this CA.
pub const CA_KEY_FILE: &str = "hearth-ca.key.pem";
/// The server certificate (`--tls-cert`).
pub const SERVER_CERT_FILE: &str = "server.cert.pem";
/// The server certificate's key (`--tls-key`, mode 0600).
pub const SERVER_KEY_FILE: &str = "server.key.pem";

#[derive(Debug, Args)]
pub struct TlsArgs {
    #[command(subcommand)]
    pub command: TlsCommand,
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Write a local CA and a server certificate for the given names / 生成本地 CA 与服务器证书
    ///
    /// Files in DIR: hearth-ca.pem (the CA certificate, to trust), hearth-ca.key.pem
    /// (its key), server.cert.pem and server.key.pem (for --tls-cert and --tls-key).
    /// A CA already in DIR is reused, so devices and browsers that trust it keep doing so.
    DevCert(DevCertArgs),
}

#[derive(Debug, Args)]
pub struct DevCertArgs {
    /// Directory for the files (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A DNS name or IP address the hub is reached by; repeat for more
    /// (e.g. --name hub.local --name 192.168.1.10 --name localhost).
    #[arg(long = "name", value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

pub fn run(args: TlsArgs) -> anyhow::Result<()> {
    match args.command {
        TlsCommand::DevCert(args) => dev_cert(&args.out, &args.names).map(|_| ()),
    }
}

/// What `dev-cert` wrote.
pub struct DevCertFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes (or reuses) the CA in `out` and a new server certificate for `names`; prints
/// what it wrote and how to trust the CA.
pub fn dev_cert(out: &Path, names: &[String]) -> anyhow::Result<DevCertFiles> {
    create_dir(out)?;
    let ca = LocalCa::load_or_create(
        &out.join(CA_CERT_FILE),
        &out.join(CA_KEY_FILE),
        "Hearth local CA",
    )?;
    let issued = ca.issue_server(names)?;
    let files = DevCertFiles {
        ca_cert: ca.cert_path.clone(),
        ca_key: ca.key_path.clone(),
        cert: out.join(SERVER_CERT_FILE),
        key: out.join(SERVER_KEY_FILE),
    };
    // The key first: a hub watching these files never pairs a new certificate with
    // an old key for longer than one check.
    write_private(&files.key, &issued.key_pem)?;
    write_public(&files.cert, &issued.cert_pem).context("writing the server certificate")?;
    let ca_note = if ca.created { "new" } else { "reused" };
    println!("CA certificate ({ca_note}): {}", files.ca_cert.display());
    println!(
        "CA key (mode 0600, keep private): {}",
        files.ca_key.display()
    );
    println!(
        "server certificate for {}: {}",
        names.join(", "),
        files.cert.display()
    );
    println!("server key (mode 0600): {}", files.key.display());
    println!();
    println!("Use them:");
    println!(
        "  hearth serve --https 0.0.0.0:8443 --mqtts 0.0.0.0:8883 --tls-cert {} --tls-key {}",
        files.cert.display(),
        files.key.display()
    );
    println!();
    println!("Trust the CA (once per machine; see docs/tls.md):");
    println!(
        "  Debian/Ubuntu: sudo cp {} /usr/local/share/ca-certificates/hearth-ca.crt && sudo update-ca-certificates",
        files.ca_cert.display()
    );
    println!(
        "  Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import {}",
        files.ca_cert.display()
    );
    println!(
        "  Chrome/Chromium on Linux: Settings > Privacy and security > Security > Manage certificates > Authorities > Import"
    );
    println!(
        "  MQTT clients: mosquitto_pub --cafile {} -h {} -p 8883 ...",
        files.ca_cert.display(),
        names[0]
    );
    Ok(files)
}
