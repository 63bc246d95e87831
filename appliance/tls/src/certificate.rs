//! A certificate chain and its key, checked and ready to serve, and the facts about it that the
//! admin status shows.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use studiovault_api::admin::CertificateView;
use x509_parser::extensions::GeneralName;

use crate::TlsError;

/// A chain and key that belong together, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    pub info: CertInfo,
}

/// What the leaf says about itself. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub names: Vec<String>,
    pub serial: String,
    pub sha256: String,
    pub not_before: i64,
    pub not_after: i64,
}

impl CertInfo {
    pub fn parse(der: &[u8]) -> Result<Self, TlsError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| TlsError::BadCertificate(format!("unreadable certificate: {e}")))?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            names.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            names,
            serial: cert.raw_serial_as_string(),
            sha256: fingerprint(der),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// When two thirds of the lifetime have passed: the renewal point.
    pub fn renew_at(&self) -> i64 {
        self.not_before + (self.not_after - self.not_before) * 2 / 3
    }

    /// Whether the certificate names every one of `wanted` (any case).
    pub fn covers(&self, wanted: &[String]) -> bool {
        wanted
            .iter()
            .all(|w| self.names.iter().any(|n| n.eq_ignore_ascii_case(w)))
    }

    pub fn view(&self) -> CertificateView {
        CertificateView {
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            names: self.names.clone(),
            serial: self.serial.clone(),
            sha256: self.sha256.clone(),
            not_before: self.not_before * 1000,
            not_after: self.not_after * 1000,
        }
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// SHA-256 of the DER bytes as colon-separated hex, the form browsers show.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses a PEM chain (leaf first) and its PEM private key, and checks that they match.
pub(crate) fn load_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<LoadedCert, TlsError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate(format!("unreadable PEM certificate: {e}")))?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::BadCertificate(
            "no certificate in the PEM data".into(),
        ));
    };
    let info = CertInfo::parse(leaf)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::BadCertificate(format!("unreadable PEM private key: {e}")))?;
    let provider = rustls::crypto::ring::default_provider();
    let key = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        TlsError::BadCertificate(format!("the private key does not fit the certificate: {e}"))
    })?;
    Ok(LoadedCert {
        key: Arc::new(key),
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    #[test]
    fn reads_names_and_dates_and_checks_the_key() {
        let (cert, key) = self_signed(&["vault.studio.test", "192.168.1.20"]);
        let loaded = load_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(loaded.info.names, ["vault.studio.test", "192.168.1.20"]);
        assert!(loaded.info.covers(&["VAULT.studio.test".into()]));
        assert!(!loaded.info.covers(&["other.studio.test".into()]));
        assert_eq!(loaded.info.sha256.len(), 32 * 3 - 1);
        assert!(loaded.info.renew_at() > loaded.info.not_before);

        let (_, other_key) = self_signed(&["vault.studio.test"]);
        let err = load_pem(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
        let err = load_pem(b"", key.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }

    #[test]
    fn renewal_is_due_after_two_thirds_of_the_lifetime() {
        let info = CertInfo {
            subject: String::new(),
            issuer: String::new(),
            names: Vec::new(),
            serial: String::new(),
            sha256: String::new(),
            not_before: 1_000,
            not_after: 1_000 + 90 * 86_400,
        };
        assert_eq!(info.renew_at(), 1_000 + 60 * 86_400);
    }
}
