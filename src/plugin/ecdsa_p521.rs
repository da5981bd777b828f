//! ECDSA over P-521 with SHA-512, the signature of Terraform's AutoMTLS client certificate,
//! which ring lacks.
//!
//! Every provider process checks one such signature, in its first TLS handshake. The `p521`
//! crate's own verification computes `u1·G + u2·Q` with two constant-time scalar
//! multiplications: 17 M of the 20 M instructions of a start-up (callgrind, issue 10).
//! Verification handles only public values, so it may run in variable time; this module
//! computes the sum with:
//! - Jacobian coordinates and the `a = −3` doubling (3M + 5S, against the 8M + 3S + 2·b
//!   of the crate's complete formulas), over the crate's field arithmetic;
//! - width-w NAFs of both scalars over one shared chain of doublings;
//! - the odd multiples of G computed at compile time, in affine form, so that each of
//!   G's additions is a mixed one (7M + 4S);
//! - the final comparison `X == r·Z²` (or `(r + n)·Z²`) instead of an inversion.
//!
//! The verdicts are the crate's own, as the tests below check.

use p521::elliptic_curve::bigint::U576;
use p521::elliptic_curve::ops::Reduce;
use p521::elliptic_curve::sec1::ToEncodedPoint as _;
use p521::elliptic_curve::{Curve as _, FieldBytesEncoding, PrimeField as _};
use p521::{NistP521, Scalar};
use primeorder::PrimeCurveParams;
use rustls::pki_types::SignatureVerificationAlgorithm;
use rustls::pki_types::{alg_id, AlgorithmIdentifier, InvalidSignature};

/// An element of P-521's base field.
type Fe = <NistP521 as PrimeCurveParams>::FieldElement;

/// ECDSA over P-521 with SHA-512, for rustls.
#[derive(Debug)]
pub(super) struct EcdsaP521Sha512;

impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        // Both parsers check what the crate's verification relies on: a point on the curve
        // (not the identity), and 0 < r, s < n.
        let key =
            p521::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature =
            p521::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        let point = key.as_affine().to_encoded_point(false);
        let coordinate = |bytes: Option<&p521::FieldBytes>| {
            bytes
                .and_then(|b| Option::<Fe>::from(Fe::from_repr(*b)))
                .ok_or(InvalidSignature)
        };
        let q = Affine {
            x: coordinate(point.x())?,
            y: coordinate(point.y())?,
        };
        verify(&q, message, &signature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA512
    }
}

/// ECDSA verification as the `ecdsa` crate's `hazmat::verify_prehashed` does it.
fn verify(
    q: &Affine,
    message: &[u8],
    signature: &p521::ecdsa::Signature,
) -> Result<(), InvalidSignature> {
    use sha2::Digest as _;

    // bits2field: the 64-byte digest is shorter than the 66-byte field, so it is padded on
    // the left.
    let digest = sha2::Sha512::digest(message);
    let mut z = p521::FieldBytes::default();
    let pad = z.len().saturating_sub(digest.len());
    z.get_mut(pad..)
        .ok_or(InvalidSignature)?
        .copy_from_slice(&digest);
    let z = <Scalar as Reduce<U576>>::reduce_bytes(&z);
    let (r, s) = signature.split_scalars();
    let s_inv = invert_vartime(&s).ok_or(InvalidSignature)?;
    let sum = lincomb(&(z * s_inv), q, &(*r * s_inv));
    if x_mod_n_is(&sum, &r) {
        Ok(())
    } else {
        Err(InvalidSignature)
    }
}

/// `1/s mod n` by the binary extended Euclidean algorithm (Hankerson, Menezes and Vanstone,
/// *Guide to Elliptic Curve Cryptography*, algorithm 2.22), in variable time: `s` is a
/// signature's, public. The crate's inversion runs in constant time (Bernstein–Yang
/// divsteps), 1.17 M of the 6.7 M instructions of a verification (callgrind, issue 10).
/// `None` only for a scalar with no inverse, which a nonzero one below n always has.
fn invert_vartime(s: &Scalar) -> Option<Scalar> {
    let n = NistP521::ORDER;
    let mut u = U576::from(s);
    let mut v = n;
    // Invariants: x1·s ≡ u and x2·s ≡ v (mod n), with x1 and x2 below n.
    let (mut x1, mut x2) = (U576::ONE, U576::ZERO);
    // Each round takes at least one bit off u or v (both are odd after the halvings, and the
    // difference is even), so 2 · 521 rounds end it; the bound keeps any slip from looping.
    let mut rounds = 0..2 * 576;
    while u != U576::ONE && v != U576::ONE {
        rounds.next()?;
        for (w, x) in [(&mut u, &mut x1), (&mut v, &mut x2)] {
            if *w == U576::ZERO {
                return None;
            }
            while !w.bit_vartime(0) {
                *w = w.shr_vartime(1);
                // x/2 mod n: x + n is even when x is odd, and below 2^522.
                if x.bit_vartime(0) {
                    *x = x.wrapping_add(&n);
                }
                *x = x.shr_vartime(1);
            }
        }
        let (w, o, x, y) = if u >= v {
            (&mut u, &v, &mut x1, &x2)
        } else {
            (&mut v, &u, &mut x2, &x1)
        };
        *w = w.wrapping_sub(o);
        // x − y mod n.
        if *x < *y {
            *x = x.wrapping_add(&n);
        }
        *x = x.wrapping_sub(y);
    }
    Scalar::from_uint(if u == U576::ONE { x1 } else { x2 }).into()
}

/// Whether `p`'s affine x, reduced mod n, is `r`. The affine x is X/Z², and x mod n == r
/// when x is r, or r + n where that is still below p; the identity has no x.
fn x_mod_n_is(p: &Jacobian, r: &Scalar) -> bool {
    if p.is_identity() {
        return false;
    }
    let zz = p.z.square();
    let r = <U576 as FieldBytesEncoding<NistP521>>::decode_field_bytes(&r.to_repr());
    let holds = |candidate: U576| {
        Option::<Fe>::from(Fe::from_uint(candidate)).is_some_and(|x| x.multiply(&zz) == p.x)
    };
    holds(r) || holds(r.wrapping_add(&NistP521::ORDER))
}

/// A point in affine coordinates (never the identity).
#[derive(Clone, Copy)]
struct Affine {
    x: Fe,
    y: Fe,
}

/// A point in Jacobian coordinates: `(X/Z², Y/Z³)`; `Z = 0` is the identity.
#[derive(Clone, Copy)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Affine {
    const fn neg(&self) -> Self {
        Self {
            x: self.x,
            y: self.y.neg(),
        }
    }
}

impl Jacobian {
    const IDENTITY: Self = Self {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    const fn from_affine(p: &Affine) -> Self {
        Self {
            x: p.x,
            y: p.y,
            z: Fe::ONE,
        }
    }

    fn is_identity(&self) -> bool {
        self.z.is_zero().into()
    }

    const fn neg(&self) -> Self {
        Self {
            x: self.x,
            y: self.y.neg(),
            z: self.z,
        }
    }

    /// `2·self` for `a = −3` (EFD dbl-2001-b). The identity stays the identity (`Z` stays
    /// 0); P-521 has no point with `Y = 0`, its order being prime.
    const fn double(&self) -> Self {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta4 = self.x.multiply(&gamma).double().double();
        let t = self.x.sub(&delta).multiply(&self.x.add(&delta));
        let alpha = t.double().add(&t);
        let x = alpha.square().sub(&beta4.double());
        let z = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let y = alpha
            .multiply(&beta4.sub(&x))
            .sub(&gamma.square().double().double().double());
        Self { x, y, z }
    }

    /// `self + q` (EFD add-2007-bl) for two points that are not the identity, not equal
    /// and not each other's negation.
    const fn add_distinct(&self, q: &Self) -> Self {
        self.sum_parts(q).finish()
    }

    /// `self + q`, for any two points.
    fn add(&self, q: &Self) -> Self {
        if self.is_identity() {
            return *q;
        }
        if q.is_identity() {
            return *self;
        }
        let parts = self.sum_parts(q);
        if bool::from(parts.h.is_zero()) {
            return if bool::from(parts.r.is_zero()) {
                self.double()
            } else {
                Self::IDENTITY
            };
        }
        parts.finish()
    }

    /// The first half of add-2007-bl: `U1 = X1·Z2²`, `S1 = Y1·Z2³`, `H = X2·Z1² − U1`,
    /// `r = 2(Y2·Z1³ − S1)` and `Z3/H = (Z1 + Z2)² − Z1² − Z2²`.
    const fn sum_parts(&self, q: &Self) -> SumParts {
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x.multiply(&z2z2);
        let s1 = self.y.multiply(&q.z).multiply(&z2z2);
        SumParts {
            u1,
            s1,
            h: q.x.multiply(&z1z1).sub(&u1),
            r: q.y.multiply(&self.z).multiply(&z1z1).sub(&s1).double(),
            z_without_h: self.z.add(&q.z).square().sub(&z1z1).sub(&z2z2),
        }
    }

    /// `self + q` for an affine `q` (EFD madd-2007-bl, with `Z3 = 2·Z1·H`, the same point).
    fn add_affine(&self, q: &Affine) -> Self {
        if self.is_identity() {
            return Self::from_affine(q);
        }
        let z1z1 = self.z.square();
        let h = q.x.multiply(&z1z1).sub(&self.x);
        let r = q.y.multiply(&self.z).multiply(&z1z1).sub(&self.y).double();
        if bool::from(h.is_zero()) {
            return if bool::from(r.is_zero()) {
                self.double()
            } else {
                Self::IDENTITY
            };
        }
        SumParts {
            u1: self.x,
            s1: self.y,
            h,
            r,
            z_without_h: self.z.double(),
        }
        .finish()
    }
}

/// What both additions compute before their common end.
struct SumParts {
    u1: Fe,
    s1: Fe,
    h: Fe,
    r: Fe,
    /// Z3 divided by H.
    z_without_h: Fe,
}

impl SumParts {
    /// The end of both additions: `X3 = r² − J − 2V`, `Y3 = r(V − X3) − 2·S1·J`,
    /// `Z3 = (Z3/H)·H`, with `I = (2H)²`, `J = H·I`, `V = U1·I`.
    const fn finish(&self) -> Jacobian {
        let i = self.h.double().square();
        let j = self.h.multiply(&i);
        let v = self.u1.multiply(&i);
        let x = self.r.square().sub(&j).sub(&v.double());
        let y = self
            .r
            .multiply(&v.sub(&x))
            .sub(&self.s1.multiply(&j).double());
        Jacobian {
            x,
            y,
            z: self.z_without_h.multiply(&self.h),
        }
    }
}

/// NAF width for G's scalar: its odd multiples up to 31·G are a table built at compile time.
const G_WIDTH: u32 = 6;
/// NAF width for Q's scalar: its odd multiples up to 15·Q are computed per verification.
const Q_WIDTH: u32 = 5;
/// Digits of a NAF of a scalar below n < 2^521: at most one more than its bits.
const NAF_DIGITS: usize = 523;

/// `G, 3G, 5G, …, 31G`, affine.
static G_ODD_MULTIPLES: [Affine; 16] = odd_multiples_of_g();

/// `G, 3G, …, 31G` in Jacobian form, then made affine with one inversion (Montgomery's
/// trick), all during compilation.
const fn odd_multiples_of_g() -> [Affine; 16] {
    let g = Affine {
        x: <NistP521 as PrimeCurveParams>::GENERATOR.0,
        y: <NistP521 as PrimeCurveParams>::GENERATOR.1,
    };
    let twice = Jacobian::from_affine(&g).double();
    let mut points = [Jacobian::from_affine(&g); 16];
    let mut i = 1;
    while i < 16 {
        // (2i − 1)·G + 2·G: distinct points, neither the identity.
        points[i] = points[i - 1].add_distinct(&twice);
        i += 1;
    }
    // products[i] = Z0·…·Zi; one inversion of the whole product gives each 1/Zi.
    let mut products = [Fe::ONE; 16];
    products[0] = points[0].z;
    let mut i = 1;
    while i < 16 {
        products[i] = products[i - 1].multiply(&points[i].z);
        i += 1;
    }
    let mut inverse = products[15].pow_vartime(&P_MINUS_2);
    let mut affine = [g; 16];
    let mut i = 16;
    while i > 0 {
        i -= 1;
        let z_inv = if i == 0 {
            inverse
        } else {
            inverse.multiply(&products[i - 1])
        };
        inverse = inverse.multiply(&points[i].z);
        let zz_inv = z_inv.square();
        affine[i] = Affine {
            x: points[i].x.multiply(&zz_inv),
            y: points[i].y.multiply(&zz_inv.multiply(&z_inv)),
        };
    }
    affine
}

/// p − 2 = 2^521 − 3, little-endian 64-bit words: `x^(p−2)` is `1/x`.
const P_MINUS_2: [u64; 9] = [
    0xffff_ffff_ffff_fffd,
    u64::MAX,
    u64::MAX,
    u64::MAX,
    u64::MAX,
    u64::MAX,
    u64::MAX,
    u64::MAX,
    0x1ff,
];

/// `a·G + b·q` in variable time (for public values only).
fn lincomb(a: &Scalar, q: &Affine, b: &Scalar) -> Jacobian {
    let (a_naf, b_naf) = (naf(a, G_WIDTH), naf(b, Q_WIDTH));
    let q1 = Jacobian::from_affine(q);
    let twice = q1.double();
    let mut q_odd = [q1; 8];
    let mut last = q1;
    for entry in q_odd.iter_mut().skip(1) {
        last = last.add(&twice);
        *entry = last;
    }
    let top = a_naf
        .iter()
        .zip(b_naf.iter())
        .rposition(|(a, b)| *a != 0 || *b != 0);
    let mut acc = Jacobian::IDENTITY;
    for (i, (&da, &db)) in a_naf.iter().zip(b_naf.iter()).enumerate().rev() {
        if top.is_some_and(|top| i > top) {
            continue;
        }
        acc = acc.double();
        if let Some(g) = G_ODD_MULTIPLES.get(usize::from(da.unsigned_abs() / 2)) {
            match da {
                0 => {}
                d if d > 0 => acc = acc.add_affine(g),
                _ => acc = acc.add_affine(&g.neg()),
            }
        }
        if let Some(p) = q_odd.get(usize::from(db.unsigned_abs() / 2)) {
            match db {
                0 => {}
                d if d > 0 => acc = acc.add(p),
                _ => acc = acc.add(&p.neg()),
            }
        }
    }
    acc
}

/// The width-`w` non-adjacent form of `k`: `k = Σ digits[i]·2^i`, each digit 0 or odd with
/// `|digit| < 2^(w−1)`, and at most one non-zero digit in any `w` in a row.
fn naf(k: &Scalar, w: u32) -> [i8; NAF_DIGITS] {
    // k as little-endian words, with a spare word for the carries.
    let mut words = [0u64; 10];
    for (word, chunk) in words.iter_mut().zip(k.to_repr().rchunks(8)) {
        let mut bytes = [0u8; 8];
        if let Some(tail) = bytes.get_mut(8 - chunk.len()..) {
            tail.copy_from_slice(chunk);
        }
        *word = u64::from_be_bytes(bytes);
    }
    // w ≤ 7, so the digits, 2^w and k mod 2^w all fit an i16.
    let width: i16 = 1 << w;
    let mut digits = [0i8; NAF_DIGITS];
    for digit in digits.iter_mut() {
        if words.iter().all(|w| *w == 0) {
            break;
        }
        if words[0] & 1 == 1 {
            let low = (words[0] & (width as u64 - 1)) as i16;
            if low >= width / 2 {
                // A negative digit, low − 2^w: subtracting it adds 2^w − low.
                *digit = (low - width) as i8;
                let mut carry = (width - low) as u64;
                for word in words.iter_mut() {
                    let (sum, over) = word.overflowing_add(carry);
                    *word = sum;
                    carry = u64::from(over);
                    if carry == 0 {
                        break;
                    }
                }
            } else {
                *digit = low as i8;
                words[0] -= low as u64;
            }
        }
        // Shift right by one bit.
        let mut carry = 0;
        for word in words.iter_mut().rev() {
            let next = *word & 1;
            *word = (*word >> 1) | (carry << 63);
            carry = next;
        }
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;
    use p521::ecdsa::signature::{RandomizedSigner as _, Verifier as _};
    use p521::elliptic_curve::group::Group as _;
    use p521::elliptic_curve::sec1::FromEncodedPoint as _;
    use p521::elliptic_curve::Field as _;

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

    /// The crate's affine form of a Jacobian point (None for the identity).
    fn to_crate(p: &Jacobian) -> Option<p521::AffinePoint> {
        if p.is_identity() {
            return None;
        }
        let z_inv = Option::<Fe>::from(p.z.invert()).unwrap();
        let x = p.x.multiply(&z_inv.square());
        let y = p.y.multiply(&z_inv.square().multiply(&z_inv));
        let point = p521::EncodedPoint::from_affine_coordinates(&x.to_repr(), &y.to_repr(), false);
        Some(Option::from(p521::AffinePoint::from_encoded_point(&point)).unwrap())
    }

    fn from_crate(p: &p521::ProjectivePoint) -> Affine {
        let point = p.to_affine().to_encoded_point(false);
        Affine {
            x: Option::from(Fe::from_repr(*point.x().unwrap())).unwrap(),
            y: Option::from(Fe::from_repr(*point.y().unwrap())).unwrap(),
        }
    }

    #[test]
    fn verification_agrees_with_the_crate() {
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

    /// The rare case of ECDSA: a point whose x is n or more, so that r = x − n.
    #[test]
    fn x_at_or_above_n_is_compared_as_x_minus_n() {
        let p_minus_1 = Fe::ZERO.sub(&Fe::ONE);
        let b = <NistP521 as PrimeCurveParams>::EQUATION_B;
        // y² = x³ − 3x + b has a root for about every other x; take the first x below p.
        let (x, y) = (1..200u64)
            .find_map(|k| {
                let x = p_minus_1.sub(&Fe::from_u64(k));
                let rhs = x.square().multiply(&x).sub(&x.double().add(&x)).add(&b);
                Option::<Fe>::from(rhs.sqrt()).map(|y| (x, y))
            })
            .unwrap();
        let x_int = <U576 as FieldBytesEncoding<NistP521>>::decode_field_bytes(&x.to_repr());
        let r_int = x_int.wrapping_sub(&NistP521::ORDER);
        let r = Option::<Scalar>::from(Scalar::from_repr(
            <U576 as FieldBytesEncoding<NistP521>>::encode_field_bytes(&r_int),
        ))
        .unwrap();
        // The same point with Z = 7: (x·49, y·343, 7).
        let z = Fe::from_u64(7);
        let point = Jacobian {
            x: x.multiply(&z.square()),
            y: y.multiply(&z.square().multiply(&z)),
            z,
        };
        assert!(x_mod_n_is(&point, &r));
        assert!(!x_mod_n_is(&point, &(r + Scalar::ONE)));
        assert!(!x_mod_n_is(&Jacobian::IDENTITY, &r));
        // An x below n compares as itself.
        let g = Jacobian::from_affine(&G_ODD_MULTIPLES[0]).double();
        let g_affine = from_crate(&(p521::ProjectivePoint::GENERATOR * Scalar::from(2u64)));
        let r = <Scalar as Reduce<U576>>::reduce_bytes(&g_affine.x.to_repr());
        assert!(x_mod_n_is(&g, &r));
        assert!(!x_mod_n_is(&g, &(r + Scalar::ONE)));
    }

    #[test]
    fn the_table_of_g_is_its_odd_multiples() {
        let g = p521::ProjectivePoint::GENERATOR;
        for (i, entry) in G_ODD_MULTIPLES.iter().enumerate() {
            let expected = from_crate(&(g * Scalar::from(2 * i as u64 + 1)));
            assert!(
                entry.x == expected.x && entry.y == expected.y,
                "{}·G",
                2 * i + 1
            );
        }
    }

    #[test]
    fn lincomb_matches_the_crate() {
        let mut rng = rand::thread_rng();
        let g = p521::ProjectivePoint::GENERATOR;
        let check = |a: Scalar, c: Scalar, b: Scalar| {
            let q = g * c;
            let expected = g * a + q * b;
            let ours = lincomb(&a, &from_crate(&q), &b);
            assert_eq!(
                to_crate(&ours),
                (!bool::from(expected.is_identity())).then(|| expected.to_affine())
            );
        };
        for _ in 0..8 {
            check(
                Scalar::random(&mut rng),
                Scalar::random(&mut rng),
                Scalar::random(&mut rng),
            );
        }
        let (zero, one, two) = (Scalar::ZERO, Scalar::ONE, Scalar::from(2u64));
        // The edge cases of the additions: sums that are the identity, doublings reached
        // through an addition of equal points, and scalars near n.
        check(zero, one, zero);
        check(one, one, zero);
        check(zero, one, one);
        check(one, one, one);
        check(-one, one, one);
        check(two, -one, two);
        check(-one, two, -one);
        check(Scalar::from(31u64), one, Scalar::from(15u64));
        check(-Scalar::from(31u64), one, Scalar::from(31u64));
        check(-one, -one, -one);
    }

    #[test]
    fn the_inverse_is_the_crates() {
        let mut rng = rand::thread_rng();
        let mut scalars = vec![
            Scalar::ONE,
            Scalar::from(2u64),
            Scalar::from(3u64),
            -Scalar::ONE,
            -Scalar::from(2u64),
            Scalar::from(u64::MAX),
        ];
        scalars.extend((0..64).map(|_| Scalar::random(&mut rng)));
        for s in scalars {
            let expected = Option::<Scalar>::from(s.invert());
            assert_eq!(invert_vartime(&s), expected, "{s:?}");
            assert_eq!(invert_vartime(&s).map(|i| i * s), Some(Scalar::ONE));
        }
        assert_eq!(invert_vartime(&Scalar::ZERO), None);
    }

    #[test]
    fn naf_digits_add_up_to_the_scalar() {
        let mut rng = rand::thread_rng();
        let mut scalars = vec![Scalar::ZERO, Scalar::ONE, -Scalar::ONE, -Scalar::from(2u64)];
        scalars.extend((0..16).map(|_| Scalar::random(&mut rng)));
        for w in [2, Q_WIDTH, G_WIDTH, 7] {
            for k in &scalars {
                let digits = naf(k, w);
                let mut sum = Scalar::ZERO;
                for d in digits.iter().rev() {
                    sum = sum.double();
                    let d_scalar = Scalar::from(u64::from(d.unsigned_abs()));
                    sum += if *d < 0 { -d_scalar } else { d_scalar };
                    assert!(*d == 0 || (d % 2 != 0 && d.unsigned_abs() < 1 << (w - 1)));
                }
                assert_eq!(sum, *k);
                for window in digits.windows(w as usize) {
                    assert!(window.iter().filter(|d| **d != 0).count() <= 1);
                }
            }
        }
    }
}
