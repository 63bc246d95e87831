//! Self-signed mode: a local CA made on first start (kept in the data directory, key 0600) signs
//! a server certificate for the configured names. Clients trust the CA's root once.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::TlsError;
use crate::certificate::{CertInfo, fingerprint};
use crate::store::{read_if_exists, write_private, write_public};

const CA_LIFETIME: Duration = Duration::days(10 * 365);
/// Short enough that a renewal happens in the appliance's life, and under the 398 days browsers
/// accept.
const LEAF_LIFETIME: Duration = Duration::days(90);
/// The local CA's common name starts so (a random suffix tells one appliance's from another's).
pub(crate) const CA_NAME_PREFIX: &str = "Studio Vault local CA";

pub(crate) struct LocalCa {
    pub root_path: PathBuf,
    pub root_sha256: String,
    cert_pem: String,
    key: KeyPair,
}

impl LocalCa {
    /// Loads the CA from `dir`, creating it the first time.
    pub fn load_or_create(dir: &Path) -> Result<Self, TlsError> {
        let root_path = dir.join("local-ca.pem");
        let key_path = dir.join("local-ca.key");
        let (cert_pem, key) = match (read_if_exists(&root_path)?, read_if_exists(&key_path)?) {
            (Some(cert), Some(key)) => {
                let key = KeyPair::from_pem(&String::from_utf8_lossy(&key))
                    .map_err(|e| bad(&key_path, e))?;
                (String::from_utf8_lossy(&cert).into_owned(), key)
            }
            _ => {
                let key = KeyPair::generate()?;
                let mut params = CertificateParams::new(Vec::<String>::new())?;
                params.distinguished_name = name(&format!(
                    "{CA_NAME_PREFIX} {}",
                    hex::encode(rand::random::<[u8; 4]>())
                ));
                params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
                params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
                params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
                params.not_after = params.not_before + CA_LIFETIME;
                let cert = params.self_signed(&key)?;
                write_private(&key_path, key.serialize_pem().as_bytes())?;
                write_public(&root_path, cert.pem().as_bytes())?;
                (cert.pem(), key)
            }
        };
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
            .map(|d: rustls_pki_types::CertificateDer<'static>| d.to_vec())
            .map_err(|e| bad(&root_path, e))?;
        CertInfo::parse(&der)?;
        Ok(Self {
            root_sha256: fingerprint(&der),
            root_path,
            cert_pem,
            key,
        })
    }

    /// A fresh server certificate for `names`: the chain (leaf, then the root) and its key, PEM.
    pub fn issue(&self, names: &[String]) -> Result<(String, String), TlsError> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = name(names.first().map_or("studiovault", String::as_str));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = OffsetDateTime::now_utc() - Duration::minutes(5);
        params.not_after = params.not_before + LEAF_LIFETIME;
        let leaf = params.signed_by(&key, &issuer)?;
        Ok((
            format!("{}{}", leaf.pem(), self.cert_pem),
            key.serialize_pem(),
        ))
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn bad(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::BadCertificate(format!("{}: {e}", path.display()))
}

/// The names a self-signed certificate covers when none are configured: this machine's host
/// name, its mDNS `.local` name, and loopback. The host name comes from `uname(2)`, not
/// `/proc/sys/kernel/hostname`: the hardened unit's `ProcSubset=pid` hides the latter.
pub(crate) fn default_names() -> Vec<String> {
    let mut names = Vec::new();
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .trim()
        .to_ascii_lowercase();
    if !host.is_empty() && rustls_pki_types::DnsName::try_from(host.as_str()).is_ok() {
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
        names.push(host);
    }
    names.push("localhost".into());
    for ip in [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    ] {
        names.push(ip.to_string());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::load_pem;

    #[test]
    fn the_ca_is_kept_and_signs_certificates_clients_can_verify() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::load_or_create(dir.path()).unwrap();
        let again = LocalCa::load_or_create(dir.path()).unwrap();
        assert_eq!(ca.root_sha256, again.root_sha256, "a restart keeps the CA");
        let mode = std::fs::metadata(dir.path().join("local-ca.key")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );

        let names = vec!["studio.local".to_owned(), "192.168.1.20".to_owned()];
        let (chain, key) = again.issue(&names).unwrap();
        let loaded = load_pem(chain.as_bytes(), key.as_bytes()).unwrap();
        assert!(loaded.info.covers(&names));
        assert!(loaded.info.issuer.contains("Studio Vault local CA"));

        // A client trusting only the root accepts the leaf for the names, and only for them.
        let mut roots = rustls::RootCertStore::empty();
        let root = std::fs::read(&ca.root_path).unwrap();
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(&root) {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let certs = loaded.key.cert.clone();
        let now = rustls_pki_types::UnixTime::now();
        let verify = |host: &str| {
            verifier.verify_server_cert(
                &certs[0],
                &certs[1..],
                &rustls_pki_types::ServerName::try_from(host.to_owned()).unwrap(),
                &[],
                now,
            )
        };
        assert!(verify("studio.local").is_ok());
        assert!(verify("192.168.1.20").is_ok());
        assert!(verify("other.local").is_err());
    }

    use rustls::client::danger::ServerCertVerifier;
    use rustls_pki_types::pem::PemObject;
}
