//! AutoMTLS: the plugin's own certificate, and a client verifier that accepts exactly the
//! certificate Terraform passed in `PLUGIN_CLIENT_CERT`.
//!
//! Terraform's client certificate is self-signed ECDSA P-521 with SHA-512 and `CA:TRUE`.
//! Neither ring (no P-521) nor webpki (refuses a CA certificate as an end entity) accepts
//! it, so the verifier here pins the certificate by its DER bytes and checks the TLS
//! handshake signature itself: P-521 with the RustCrypto `p521` crate, every other scheme
//! with ring. A client with any other certificate, or none, is refused.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, PrivateKeyDer,
    PrivatePkcs8KeyDer, SignatureVerificationAlgorithm, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` holds no PEM certificate.
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate")]
    BadClientCert,
    /// The server certificate could not be generated.
    #[error("cannot generate the plugin's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The plugin's TLS setup: its certificate (printed in the handshake line) and the rustls
/// configuration that serves it.
#[derive(Debug)]
pub struct AutoMtls {
    /// DER of the plugin's self-signed certificate.
    pub server_cert_der: Vec<u8>,
    /// The rustls server configuration (ALPN `h2`, client certificate required and pinned).
    pub config: Arc<ServerConfig>,
}

impl AutoMtls {
    /// Generates a certificate for `localhost` and pins `client_cert_pem`.
    ///
    /// # Errors
    /// When the PEM holds no certificate or rustls refuses the setup.
    pub fn new(client_cert_pem: &str) -> Result<Self, TlsError> {
        let client = CertificateDer::from_pem_slice(client_cert_pem.as_bytes())
            .map_err(|_| TlsError::BadClientCert)?;
        let (server_cert, server_key) = self_signed_localhost()?;
        let provider = Arc::new(ring::default_provider());
        let verifier = PinnedClientCert {
            pinned: client.into_owned(),
            ring_algorithms: provider.signature_verification_algorithms,
        };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(vec![server_cert.clone()], server_key)?;
        // grpc-go (in Terraform) refuses TLS connections that do not negotiate h2.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(AutoMtls {
            server_cert_der: server_cert.to_vec(),
            config: Arc::new(config),
        })
    }
}

/// A self-signed ECDSA P-256 certificate valid for `localhost`, usable as its own root
/// (go-plugin's client trusts exactly the certificate of the handshake line).
fn self_signed_localhost() -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), rcgen::Error>
{
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "keysmith");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(30);
    params.not_after = now + time::Duration::days(365 * 30);
    let cert = params.self_signed(&key)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key_der))
}

/// Accepts exactly one client certificate, byte for byte.
#[derive(Debug)]
struct PinnedClientCert {
    pinned: CertificateDer<'static>,
    ring_algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms(dss.scheme))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms(dss.scheme))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = vec![SignatureScheme::ECDSA_NISTP521_SHA512];
        schemes.extend(self.ring_algorithms.supported_schemes());
        schemes
    }
}

impl PinnedClientCert {
    fn algorithms(&self, scheme: SignatureScheme) -> &WebPkiSupportedAlgorithms {
        if scheme == SignatureScheme::ECDSA_NISTP521_SHA512 {
            &P521_ALGORITHMS
        } else {
            &self.ring_algorithms
        }
    }
}

static P521_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[&EcdsaP521Sha512],
    mapping: &[(SignatureScheme::ECDSA_NISTP521_SHA512, &[&EcdsaP521Sha512])],
};

/// ECDSA over P-521 with SHA-512, which ring lacks.
#[derive(Debug)]
struct EcdsaP521Sha512;

impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key =
            p521::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature =
            p521::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        verify_p521_sha512(key.as_affine(), message, &signature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA512
    }
}

/// ECDSA verification over P-521 with SHA-512, exactly as the `ecdsa` crate's
/// `hazmat::verify_prehashed` does it, except for `u1·G + u2·Q`: the crate computes the two
/// products one after the other with constant-time scalar multiplication (1,048 point
/// doublings and a constant-time table scan per window), which was 17 M of the 20 M
/// instructions of a provider process's start-up (callgrind, issue 10), once per process.
/// Verification handles only public values, so [`lincomb_vartime`] computes the sum in
/// variable time with one shared chain of doublings (Straus' method, 4-bit windows).
fn verify_p521_sha512(
    key: &p521::AffinePoint,
    message: &[u8],
    signature: &p521::ecdsa::Signature,
) -> Result<(), InvalidSignature> {
    use p521::elliptic_curve::ops::{Invert as _, Reduce};
    use p521::elliptic_curve::point::AffineCoordinates as _;
    use p521::{FieldBytes, ProjectivePoint, Scalar};
    use sha2::Digest as _;

    // bits2field: the 64-byte digest is shorter than the 66-byte field, so it is padded on
    // the left.
    let digest = sha2::Sha512::digest(message);
    let mut z = FieldBytes::default();
    let pad = z.len().saturating_sub(digest.len());
    z.get_mut(pad..)
        .ok_or(InvalidSignature)?
        .copy_from_slice(&digest);
    let z = <Scalar as Reduce<p521::U576>>::reduce_bytes(&z);
    let (r, s) = signature.split_scalars();
    let s_inv = *s.invert_vartime();
    let u1 = z * s_inv;
    let u2 = *r * s_inv;
    let x = lincomb_vartime(
        &ProjectivePoint::GENERATOR,
        &u1,
        &ProjectivePoint::from(*key),
        &u2,
    )
    .to_affine()
    .x();
    if *r == <Scalar as Reduce<p521::U576>>::reduce_bytes(&x) {
        Ok(())
    } else {
        Err(InvalidSignature)
    }
}

/// `a·p + b·q` in variable time (for public values only): Straus' method, 4-bit windows
/// of both scalars over one chain of doublings.
fn lincomb_vartime(
    p: &p521::ProjectivePoint,
    a: &p521::Scalar,
    q: &p521::ProjectivePoint,
    b: &p521::Scalar,
) -> p521::ProjectivePoint {
    use p521::elliptic_curve::ff::PrimeField as _;
    use p521::elliptic_curve::group::Group as _;
    use p521::ProjectivePoint;

    /// `[0·point, 1·point, …, 15·point]`.
    fn multiples(point: &ProjectivePoint) -> [ProjectivePoint; 16] {
        let mut table = [ProjectivePoint::IDENTITY; 16];
        let mut sum = ProjectivePoint::IDENTITY;
        for entry in table.iter_mut().skip(1) {
            sum += point;
            *entry = sum;
        }
        table
    }

    let (p_table, q_table) = (multiples(p), multiples(q));
    let (a_bytes, b_bytes) = (a.to_repr(), b.to_repr());
    let mut acc = ProjectivePoint::IDENTITY;
    let mut started = false;
    for (a_byte, b_byte) in a_bytes.iter().zip(b_bytes.iter()) {
        for (a_digit, b_digit) in [(a_byte >> 4, b_byte >> 4), (a_byte & 15, b_byte & 15)] {
            if started {
                acc = acc.double().double().double().double();
            }
            if let Some(point) = p_table.get(usize::from(a_digit)).filter(|_| a_digit != 0) {
                acc += point;
                started = true;
            }
            if let Some(point) = q_table.get(usize::from(b_digit)).filter(|_| b_digit != 0) {
                acc += point;
                started = true;
            }
        }
    }
    acc
}

/// The crypto provider the plugin uses (for tests that build clients).
pub fn crypto_provider() -> CryptoProvider {
    ring::default_provider()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p521::ecdsa::signature::{RandomizedSigner as _, Verifier as _};

    /// What the `p521` crate's own verification says.
    fn crate_verdict(key: &[u8], message: &[u8], der: &[u8]) -> bool {
        let (Ok(key), Ok(sig)) = (
            p521::ecdsa::VerifyingKey::from_sec1_bytes(key),
            p521::ecdsa::Signature::from_der(der),
        ) else {
            return false;
        };
        key.verify(message, &sig).is_ok()
    }

    fn ours(key: &[u8], message: &[u8], der: &[u8]) -> bool {
        EcdsaP521Sha512.verify_signature(key, message, der).is_ok()
    }

    #[test]
    fn p521_verification_agrees_with_the_crate() {
        let mut rng = rand::thread_rng();
        for round in 0..12u8 {
            let signing = p521::ecdsa::SigningKey::random(&mut rng);
            let key = p521::ecdsa::VerifyingKey::from(&signing).to_encoded_point(false);
            let key = key.as_bytes();
            let other = p521::ecdsa::VerifyingKey::from(&p521::ecdsa::SigningKey::random(&mut rng))
                .to_encoded_point(round % 2 == 0);
            let message = vec![round; usize::from(round) * 37];
            let sig: p521::ecdsa::Signature = signing.sign_with_rng(&mut rng, &message);
            let der = sig.to_der();
            let der = der.as_bytes();
            assert!(ours(key, &message, der) && crate_verdict(key, &message, der));
            // The same signature with s negated (n - s) is valid ECDSA too.
            let (r, s) = sig.split_scalars();
            let high = p521::ecdsa::Signature::from_scalars(*r, -*s).unwrap();
            let high = high.to_der();
            assert_eq!(
                ours(key, &message, high.as_bytes()),
                crate_verdict(key, &message, high.as_bytes())
            );
            assert!(ours(key, &message, high.as_bytes()));
            // Another message, another key, swapped scalars: refused by both.
            let mut changed = message.clone();
            changed.push(1);
            assert!(!ours(key, &changed, der) && !crate_verdict(key, &changed, der));
            assert!(!ours(other.as_bytes(), &message, der));
            assert!(!crate_verdict(other.as_bytes(), &message, der));
            let swapped = p521::ecdsa::Signature::from_scalars(*s, *r)
                .unwrap()
                .to_der();
            assert!(!ours(key, &message, swapped.as_bytes()));
            assert!(!crate_verdict(key, &message, swapped.as_bytes()));
            // Every single-bit change of the signature: the same verdict as the crate.
            for i in (0..der.len()).filter(|_| round < 2) {
                for bit in [0x01, 0x80] {
                    let mut bad = der.to_vec();
                    bad[i] ^= bit;
                    assert_eq!(
                        ours(key, &message, &bad),
                        crate_verdict(key, &message, &bad),
                        "byte {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn lincomb_matches_two_multiplications() {
        use p521::elliptic_curve::Field as _;
        let mut rng = rand::thread_rng();
        let g = p521::ProjectivePoint::GENERATOR;
        for _ in 0..8 {
            let (a, b, c) = (
                p521::Scalar::random(&mut rng),
                p521::Scalar::random(&mut rng),
                p521::Scalar::random(&mut rng),
            );
            let q = g * c;
            assert_eq!(lincomb_vartime(&g, &a, &q, &b), g * a + q * b);
        }
        let zero = p521::Scalar::ZERO;
        let one = p521::Scalar::ONE;
        assert_eq!(
            lincomb_vartime(&g, &zero, &g, &zero),
            p521::ProjectivePoint::IDENTITY
        );
        assert_eq!(lincomb_vartime(&g, &one, &g, &zero), g);
        assert_eq!(
            lincomb_vartime(&g, &-one, &g, &one),
            p521::ProjectivePoint::IDENTITY
        );
    }
}
