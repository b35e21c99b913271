//! Real handshakes over loopback TCP, with certificates made for each test.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use super::*;

/// A self-signed certificate for `localhost` and its key, as PEM, and the certificate's DER.
struct Made {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn make(common_name: &str) -> Made {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let cert = params.self_signed(&key).unwrap();
    Made {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

struct Dir {
    dir: tempfile::TempDir,
    files: TlsSpec,
}

impl Dir {
    fn new() -> Dir {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsSpec {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        Dir { dir, files }
    }

    fn install(&self, m: &Made) {
        std::fs::write(&self.files.cert, &m.cert_pem).unwrap();
        std::fs::write(&self.files.key, &m.key_pem).unwrap();
    }

    /// Trusts every certificate given, in one CA file.
    fn trusting(&self, made: &[&Made]) -> TlsConnector {
        let ca = self.dir.path().join("ca.pem");
        let pems: String = made.iter().map(|m| m.cert_pem.as_str()).collect();
        std::fs::write(&ca, pems).unwrap();
        let mut config = client_config(Some(&ca)).unwrap();
        // Each connection a full handshake: a resumed session shows the certificate of
        // the session it resumes.
        config.resumption = rustls::client::Resumption::disabled();
        TlsConnector::from(Arc::new(config))
    }
}

/// One connection: a TLS handshake, "ping" one way and "pong" back. Returns the
/// certificate the server presented and the protocol agreed by ALPN.
async fn exchange(acceptor: TlsAcceptor, connector: &TlsConnector) -> (Vec<u8>, Option<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        tls.write_all(b"pong").await.unwrap();
        tls.shutdown().await.unwrap();
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"ping").await.unwrap();
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf).await.unwrap();
    assert_eq!(buf, b"pong");
    server.await.unwrap();
    let (_, conn) = tls.get_ref();
    let peer = conn.peer_certificates().unwrap()[0].to_vec();
    (peer, conn.alpn_protocol().map(<[u8]>::to_vec))
}

#[tokio::test]
async fn serves_then_reloads_a_new_certificate() {
    let d = Dir::new();
    let (one, two) = (make("steward one"), make("steward two"));
    d.install(&one);
    let tls = Tls::load(d.files.clone()).unwrap();
    let connector = d.trusting(&[&one, &two]);

    let (peer, alpn) = exchange(tls.acceptor(), &connector).await;
    assert_eq!(peer, one.der);
    assert_eq!(alpn.as_deref(), Some(ALPN_HTTP1));

    // An acceptor taken before the reload sees the new certificate too.
    let early = tls.acceptor();
    d.install(&two);
    tls.reload().unwrap();
    assert_eq!(exchange(tls.acceptor(), &connector).await.0, two.der);
    assert_eq!(exchange(early, &connector).await.0, two.der);
    assert_eq!(tls.certificate_chain()[0].to_vec(), two.der);
}

#[tokio::test]
async fn a_bad_new_key_keeps_the_old_certificate_serving() {
    let d = Dir::new();
    let (one, two) = (make("steward one"), make("steward two"));
    d.install(&one);
    let tls = Tls::load(d.files.clone()).unwrap();
    let connector = d.trusting(&[&one, &two]);

    std::fs::write(&d.files.key, "garbage\n").unwrap();
    let err = tls.reload().unwrap_err();
    assert!(err.contains(&d.files.key.display().to_string()), "{err}");
    assert!(err.contains("holds no private key"), "{err}");
    assert_eq!(exchange(tls.acceptor(), &connector).await.0, one.der);

    // The new certificate with the old key: refused, the old pair still serves.
    std::fs::write(&d.files.key, &one.key_pem).unwrap();
    std::fs::write(&d.files.cert, &two.cert_pem).unwrap();
    let err = tls.reload().unwrap_err();
    assert!(err.contains("does not belong to the certificate"), "{err}");
    assert_eq!(exchange(tls.acceptor(), &connector).await.0, one.der);

    // A missing file too.
    std::fs::remove_file(&d.files.cert).unwrap();
    let err = tls.reload().unwrap_err();
    assert!(
        err.starts_with(&format!(
            "cannot read the certificate file {}",
            d.files.cert.display()
        )),
        "{err}"
    );
    assert_eq!(exchange(tls.acceptor(), &connector).await.0, one.der);
}

#[test]
fn load_refuses_a_key_of_another_certificate() {
    let d = Dir::new();
    let (one, two) = (make("steward one"), make("steward two"));
    std::fs::write(&d.files.cert, &one.cert_pem).unwrap();
    std::fs::write(&d.files.key, &two.key_pem).unwrap();
    let err = Tls::load(d.files.clone()).unwrap_err();
    assert_eq!(
        err,
        format!(
            "the private key in {} does not belong to the certificate in {}; check that both \
             files come from the same issuance",
            d.files.key.display(),
            d.files.cert.display()
        )
    );
}

#[test]
fn load_names_the_file_and_what_it_lacks() {
    let d = Dir::new();
    let one = make("steward one");
    // The key where the certificate should be.
    std::fs::write(&d.files.cert, &one.key_pem).unwrap();
    std::fs::write(&d.files.key, &one.key_pem).unwrap();
    let err = Tls::load(d.files.clone()).unwrap_err();
    assert_eq!(
        err,
        format!(
            "the certificate file {} holds no certificate (a PEM block `BEGIN CERTIFICATE`)",
            d.files.cert.display()
        )
    );
    // The certificate where the key should be.
    std::fs::write(&d.files.cert, &one.cert_pem).unwrap();
    std::fs::write(&d.files.key, &one.cert_pem).unwrap();
    let err = Tls::load(d.files.clone()).unwrap_err();
    assert!(
        err.starts_with(&format!(
            "the private key file {} holds no private key",
            d.files.key.display()
        )),
        "{err}"
    );
    // A PEM block cut short.
    std::fs::write(&d.files.cert, &one.cert_pem[..one.cert_pem.len() / 2]).unwrap();
    let err = Tls::load(d.files.clone()).unwrap_err();
    assert!(
        err.contains("is not valid PEM: no `-----END CERTIFICATE-----` line"),
        "{err}"
    );
    // One file holding both works.
    let both = d.dir.path().join("both.pem");
    std::fs::write(&both, format!("{}{}", one.cert_pem, one.key_pem)).unwrap();
    let tls = Tls::load(TlsSpec {
        cert: both.clone(),
        key: both,
    })
    .unwrap();
    assert_eq!(tls.certificate_chain()[0].to_vec(), one.der);
}

#[tokio::test]
async fn a_client_offering_only_h2_is_refused() {
    let d = Dir::new();
    let one = make("steward one");
    d.install(&one);
    let tls = Tls::load(d.files.clone()).unwrap();
    let ca = d.dir.path().join("ca.pem");
    std::fs::write(&ca, &one.cert_pem).unwrap();
    let mut config = client_config(Some(&ca)).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.acceptor();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.is_err()
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    assert!(connector.connect(name, tcp).await.is_err());
    assert!(server.await.unwrap(), "the server accepted h2");
}

#[tokio::test]
async fn watch_reloads_a_certificate_renamed_into_place() {
    let d = Dir::new();
    let (one, two) = (make("steward one"), make("steward two"));
    d.install(&one);
    let tls = Arc::new(Tls::load(d.files.clone()).unwrap());
    let connector = d.trusting(&[&one, &two]);
    let (tx, rx) = std_mpsc::channel();
    let watcher = watch(tls.clone(), move |r| {
        let _ = tx.send(r);
    })
    .unwrap();

    // As certbot and config managers do: write beside, then rename over.
    let dir = d.dir.path();
    std::fs::write(dir.join(".cert.new"), &two.cert_pem).unwrap();
    std::fs::write(dir.join(".key.new"), &two.key_pem).unwrap();
    std::fs::rename(dir.join(".key.new"), &d.files.key).unwrap();
    std::fs::rename(dir.join(".cert.new"), &d.files.cert).unwrap();
    let result = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(exchange(tls.acceptor(), &connector).await.0, two.der);
    // Both files changed within the quiet time: one reload for the burst.
    assert!(
        rx.recv_timeout(crate::filewatch::QUIET * 3).is_err(),
        "more than one reload"
    );

    // A broken key is reported, and the certificate stays.
    std::fs::write(&d.files.key, "garbage\n").unwrap();
    let result = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(result.unwrap_err().contains("holds no private key"));
    assert_eq!(exchange(tls.acceptor(), &connector).await.0, two.der);
    drop(watcher);
}

#[test]
fn client_config_names_a_bad_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let err = client_config(Some(&missing)).unwrap_err();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = client_config(Some(&empty)).unwrap_err();
    assert!(err.contains("holds no certificate"), "{err}");
    if Path::new(SYSTEM_CA_FILE).exists() {
        let config = client_config(None).unwrap();
        assert_eq!(config.alpn_protocols, [ALPN_HTTP1.to_vec()]);
    }
}
