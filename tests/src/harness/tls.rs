//! Test certificates: a CA and a server certificate signed by it, for an IP address or host
//! name, written as PEM files.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// PEM files written by [`generate`].
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate: what a client trusts.
    pub ca_cert: PathBuf,
    /// The CA's private key.
    pub ca_key: PathBuf,
    /// The server certificate, signed by the CA.
    pub cert: PathBuf,
    /// The server certificate's private key.
    pub key: PathBuf,
    /// Server certificate followed by the CA certificate.
    pub chain: PathBuf,
}

/// Generates a CA and a server certificate valid for `names` (IP addresses become IP
/// subject alternative names, anything else DNS names), written into `dir` as `ca.pem`,
/// `ca-key.pem`, `cert.pem`, `key.pem` and `chain.pem`.
pub fn generate(dir: &Path, names: &[&str]) -> TlsFiles {
    let ca_key = KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("CA params: {e}"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Palisade test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .unwrap_or_else(|e| panic!("CA certificate: {e}"));
    let issuer = Issuer::new(ca_params, &ca_key);

    let key = KeyPair::generate().unwrap_or_else(|e| panic!("server key: {e}"));
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone())
        .unwrap_or_else(|e| panic!("server certificate names {names:?}: {e}"));
    params.distinguished_name.push(
        DnType::CommonName,
        names
            .first()
            .cloned()
            .unwrap_or_else(|| "palisade-test".into()),
    );
    let cert = params
        .signed_by(&key, &issuer)
        .unwrap_or_else(|e| panic!("server certificate: {e}"));

    let files = TlsFiles {
        ca_cert: dir.join("ca.pem"),
        ca_key: dir.join("ca-key.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        chain: dir.join("chain.pem"),
    };
    write(&files.ca_cert, &ca_cert.pem());
    write(&files.ca_key, &ca_key.serialize_pem());
    write(&files.cert, &cert.pem());
    write(&files.key, &key.serialize_pem());
    write(&files.chain, &format!("{}{}", cert.pem(), ca_cert.pem()));
    files
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = generate(dir.path(), &["127.0.0.20", "pbx.test"]);
        for p in [&f.ca_cert, &f.cert, &f.chain] {
            assert!(
                fs::read_to_string(p)
                    .unwrap()
                    .starts_with("-----BEGIN CERTIFICATE-----")
            );
        }
        for p in [&f.ca_key, &f.key] {
            assert!(fs::read_to_string(p).unwrap().contains("PRIVATE KEY-----"));
        }
    }
}
