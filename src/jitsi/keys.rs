//! meetbot's own RS256 signing keys, for servers whose Prosody trusts meetbot through `asap_key_server`
//! or `cache_keys_url`: making a pair, naming it (`kid`), and publishing the public half the way Jitsi's
//! token code reads it (the README, One meetbot for many servers, names the code behind each rule).

use crate::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::{CryptoRng, Rng, RngCore};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Modulus size of the keys meetbot makes: what RS256 deployments and 8x8's samples use.
pub const RSA_BITS: usize = 2048;

/// Prefix of every kid meetbot makes, so an operator can tell meetbot's tokens apart in Prosody's log.
pub const KID_PREFIX: &str = "meetbot/";

/// Why a key could not be made, read or published. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The RSA backend could not generate a key.
    #[error("generating an RSA key failed")]
    Generate,
    /// A key could not be encoded as PEM.
    #[error("encoding the RSA key as PEM failed")]
    Encode,
    /// The text is not a PEM-encoded RSA public key.
    #[error("not a PEM-encoded RSA public key")]
    BadPublicKey,
    /// The text is not a PEM-encoded RSA private key.
    #[error("not a PEM-encoded RSA private key")]
    BadPrivateKey,
}

/// A freshly made key pair. The private half is meant to be sealed and stored at once.
#[derive(Clone)]
pub struct KeyPair {
    /// The key id put in each token's header.
    pub kid: String,
    /// PKCS#8 PEM of the private key.
    pub private_pem: Secret,
    /// SPKI PEM of the public key: what the key server serves.
    pub public_pem: String,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("kid", &self.kid)
            .field("private_pem", &self.private_pem)
            .finish_non_exhaustive()
    }
}

/// The kid of a server's key of one generation: `meetbot/<guild>/<generation>-<16 random hex digits>`.
///
/// Prosody never uses the kid as a path (it asks for the SHA-256 of it) and does not restrict its characters;
/// this one is printable ASCII without spaces or quotes all the same, because Prosody writes it into its log.
/// The random part keeps a kid unique even when a server is set up, reset and set up again.
pub fn kid_for(guild_id: u64, generation: i64, rng: &mut impl RngCore) -> String {
    let random: u64 = rng.gen();
    format!("{KID_PREFIX}{guild_id}/{generation}-{random:016x}")
}

/// Makes a 2048-bit RS256 key pair named for `guild_id` and `generation`. Slow in debug builds (seconds).
pub fn generate(
    guild_id: u64,
    generation: i64,
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<KeyPair, KeyError> {
    let private = RsaPrivateKey::new(rng, RSA_BITS).map_err(|_| KeyError::Generate)?;
    let private_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| KeyError::Encode)?;
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| KeyError::Encode)?;
    Ok(KeyPair {
        kid: kid_for(guild_id, generation, rng),
        private_pem: Secret::new(private_pem.as_str()),
        public_pem,
    })
}

/// The public half of a PKCS#8 or PKCS#1 PEM private key, as SPKI PEM.
pub fn public_pem_of(private_pem: &Secret) -> Result<String, KeyError> {
    let pem = private_pem.expose();
    let key = RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| KeyError::BadPrivateKey)?;
    key.to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| KeyError::Encode)
}

/// Lowercase hex SHA-256 of the kid: the file name Prosody asks the key server for.
pub fn sha256_hex(kid: &str) -> String {
    let digest = Sha256::digest(kid.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Whether `text` is a file name the key server could hold: 64 lowercase hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The URL Prosody fetches for `kid`: `asap_key_server`, a slash, the hash, `.pem`.
///
/// Prosody joins with a plain `/` and does not trim a trailing slash, so neither does this: a key server
/// configured as `https://x/asap/` is asked for `https://x/asap//<hash>.pem`.
pub fn key_url(asap_key_server: &str, kid: &str) -> String {
    format!("{asap_key_server}/{}.pem", sha256_hex(kid))
}

/// One RSA public key as a JSON Web Key. Prosody reads only `kid`, `n` and `e`; the rest is for other readers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always "RSA".
    pub kty: String,
    /// The key id tokens carry.
    pub kid: String,
    /// Always "sig".
    #[serde(rename = "use")]
    pub use_: String,
    /// Always "RS256".
    pub alg: String,
    /// Modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
}

/// A JWKS document: `{"keys":[…]}`, what `cache_keys_url` expects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// The JWK of a PEM public key named `kid`.
    pub fn from_public_pem(kid: &str, public_pem: &str) -> Result<Jwk, KeyError> {
        let key = RsaPublicKey::from_public_key_pem(public_pem)
            .or_else(|_| {
                use rsa::pkcs1::DecodeRsaPublicKey;
                RsaPublicKey::from_pkcs1_pem(public_pem)
            })
            .map_err(|_| KeyError::BadPublicKey)?;
        Ok(Jwk {
            kty: "RSA".into(),
            kid: kid.into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        })
    }

    /// The public key this JWK describes, as SPKI PEM (what Prosody turns a JWK into).
    pub fn to_public_pem(&self) -> Result<String, KeyError> {
        if self.kty != "RSA" {
            return Err(KeyError::BadPublicKey);
        }
        let decode = |s: &str| {
            URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|_| KeyError::BadPublicKey)
        };
        let n = rsa::BigUint::from_bytes_be(&decode(&self.n)?);
        let e = rsa::BigUint::from_bytes_be(&decode(&self.e)?);
        RsaPublicKey::new(n, e)
            .map_err(|_| KeyError::BadPublicKey)?
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_lowercase_hex_of_the_kid_bytes() {
        // Known SHA-256 of "abc" (FIPS 180-2 test vector).
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256_hex(&sha256_hex("meetbot/1/1-00")));
        assert!(!is_sha256_hex(&sha256_hex("x").to_uppercase()));
        assert!(!is_sha256_hex("../../etc/passwd"));
    }

    #[test]
    fn key_url_joins_like_prosody_without_trimming() {
        let kid = "meetbot/42/1-0123456789abcdef";
        let hash = sha256_hex(kid);
        assert_eq!(
            key_url("https://bot.example/asap/42", kid),
            format!("https://bot.example/asap/42/{hash}.pem")
        );
        assert_eq!(
            key_url("https://bot.example/asap/42/", kid),
            format!("https://bot.example/asap/42//{hash}.pem")
        );
    }

    #[test]
    fn kids_name_guild_and_generation_and_differ_each_time() {
        let mut rng = rand::thread_rng();
        let a = kid_for(42, 3, &mut rng);
        let b = kid_for(42, 3, &mut rng);
        assert!(a.starts_with("meetbot/42/3-"), "{a}");
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\'));
    }

    #[test]
    fn jwk_round_trips_to_the_same_public_key_and_refuses_junk() {
        // One key for the whole test: generation is slow in debug builds.
        let pair = generate(7, 1, &mut rand::rngs::OsRng).unwrap();
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(public_pem_of(&pair.private_pem).unwrap(), pair.public_pem);
        let jwk = Jwk::from_public_pem(&pair.kid, &pair.public_pem).unwrap();
        assert_eq!(jwk.e, "AQAB");
        assert_eq!(jwk.to_public_pem().unwrap(), pair.public_pem);
        let printed = format!("{pair:?}");
        assert!(!printed.contains("PRIVATE"), "{printed}");
        assert!(matches!(
            Jwk::from_public_pem(
                "k",
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
            ),
            Err(KeyError::BadPublicKey)
        ));
        assert!(matches!(
            public_pem_of(&Secret::new("not a key")),
            Err(KeyError::BadPrivateKey)
        ));
    }
}
