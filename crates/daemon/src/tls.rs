//! TLS for the TCP API: the server's certificate, replaced while steward runs, and the
//! client's trust, for the CLI.
//!
//! [`Tls`] holds a [`TlsAcceptor`] whose certificate comes from a resolver that every
//! handshake asks. [`Tls::reload`] reads the certificate and key files again and, only if
//! they are valid and belong together, swaps the resolver's certificate: handshakes from
//! then on present the new one, connections already open keep theirs, and a bad new file
//! leaves the old certificate serving. [`watch`] calls it when the files change, as when
//! certbot or a config manager renews them.
//!
//! A client that resumes an earlier session (a TLS session ticket) skips the certificate:
//! it checked the old one when it made that session.
//!
//! The crypto is rustls with its `ring` provider (no C toolchain beyond `cc`, no cmake),
//! TLS 1.2 and 1.3, and ALPN `http/1.1` only: the API speaks HTTP/1.1.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use steward_core::config::TlsSpec;
use tokio_rustls::TlsAcceptor;
use tracing::warn;

/// The one application protocol offered and accepted.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The server side of TLS, with a certificate that can be replaced while it serves.
pub struct Tls {
    files: TlsSpec,
    provider: Arc<CryptoProvider>,
    resolver: Arc<Resolver>,
    acceptor: TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish()
    }
}

impl Tls {
    /// Reads the certificate and the key. The error names the file and what is wrong with
    /// it: unreadable, no certificate, no private key, or a key that is not the
    /// certificate's.
    pub fn load(files: TlsSpec) -> Result<Tls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = read_certified_key(&files, &provider)?;
        let resolver = Arc::new(Resolver(RwLock::new(Arc::new(key))));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(Tls {
            files,
            provider,
            resolver,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Reads the files again and, if they are valid, serves the new certificate from the
    /// next handshake on. On an error the current certificate stays, and the error says
    /// why (for the log).
    pub fn reload(&self) -> Result<(), String> {
        let key = read_certified_key(&self.files, &self.provider)?;
        *self
            .resolver
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        Ok(())
    }

    /// The acceptor, for each accepted TCP connection. Clones share the certificate: a
    /// reload reaches them all.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// The files this reads.
    pub fn files(&self) -> &TlsSpec {
        &self.files
    }

    /// The certificate chain served now, DER-encoded, the server's own first.
    pub fn certificate_chain(&self) -> Vec<CertificateDer<'static>> {
        self.resolver.current().cert.clone()
    }
}

/// Hands each handshake the current certificate.
#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl Resolver {
    fn current(&self) -> Arc<CertifiedKey> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn read_certified_key(files: &TlsSpec, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let certs = read_certificates(&files.cert)?;
    let key_pem = read(&files.key, "private key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "the private key file {} holds no private key (a PEM block `BEGIN PRIVATE KEY`, \
             `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`)",
            files.key.display()
        ),
        e => format!(
            "the private key file {} is not valid PEM: {}",
            files.key.display(),
            pem_error(&e)
        ),
    })?;
    let signing_key = provider.key_provider.load_private_key(key).map_err(|e| {
        format!(
            "the private key in {} cannot be used: {e}",
            files.key.display()
        )
    })?;
    let key = CertifiedKey::new(certs, signing_key);
    match key.keys_match() {
        Ok(()) => Ok(key),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(format!(
                "the private key in {} does not belong to the certificate in {}; check that \
             both files come from the same issuance",
                files.key.display(),
                files.cert.display()
            ))
        }
        Err(e) => Err(format!(
            "the certificate in {} cannot be checked against the private key in {}: {e}",
            files.cert.display(),
            files.key.display()
        )),
    }
}

/// Every certificate in a PEM file, in order; an error when there is none.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(path, "certificate")?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "the certificate file {} is not valid PEM: {}",
                path.display(),
                pem_error(&e)
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "the certificate file {} holds no certificate (a PEM block `BEGIN CERTIFICATE`)",
            path.display()
        ));
    }
    Ok(certs)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} file {}: {e}", path.display()))
}

/// A PEM error in words (its own Display prints byte lists).
fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!(
                "no `-----END {}-----` line",
                String::from_utf8_lossy(end_marker)
            )
        }
        pem::Error::IllegalSectionStart { line } => {
            format!(
                "a bad `-----BEGIN` line `{}`",
                String::from_utf8_lossy(line)
            )
        }
        e => e.to_string(),
    }
}

/// Calls [`Tls::reload`] after each burst of changes to the certificate or key files
/// (see [`crate::filewatch`]), passing its result to `on_result`.
pub fn watch(
    tls: Arc<Tls>,
    on_result: impl Fn(Result<(), String>) + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let files = tls.files().clone();
    crate::filewatch::watch(&[files.cert, files.key], "TLS certificate", move || {
        on_result(tls.reload())
    })
}

/// Where a Debian-style system keeps the certificates it trusts, in one PEM file.
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A client configuration for the TCP API: it trusts the certificates in `ca_file` when
/// given (a self-signed server certificate, or a private CA), otherwise those of the
/// system ([`SYSTEM_CA_FILE`]), and offers ALPN `http/1.1`.
pub fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, String> {
    let path = ca_file.unwrap_or(Path::new(SYSTEM_CA_FILE));
    let mut roots = RootCertStore::empty();
    let certs = read_certificates(path)?;
    let (_added, ignored) = roots.add_parsable_certificates(certs);
    if roots.is_empty() {
        return Err(format!(
            "none of the certificates in {} can be used as a trust anchor",
            path.display()
        ));
    }
    if ignored > 0 {
        warn!(
            "{ignored} certificates in {} cannot be parsed and are not trusted",
            path.display()
        );
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests;
