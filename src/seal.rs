//! Secrets encrypted at rest: servers' private keys and shared secrets are stored sealed with
//! XChaCha20-Poly1305 under a 32-byte master key from the environment (`MEETBOT_MASTER_KEY`).
//!
//! Each sealed value carries its own random 24-byte nonce, and the server and purpose it belongs to are
//! bound in as associated data: a sealed value copied into another server's row, or into another column,
//! does not open. The text form is versioned (`mbs1.` + base64url of nonce ‖ ciphertext ‖ tag) so the
//! format can change without guessing.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use std::fmt;
use zeroize::Zeroizing;

/// The environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "MEETBOT_MASTER_KEY";

/// How to make a master key, for every message that asks for one.
pub const MAKE_ONE: &str =
    "make one with `openssl rand -base64 32` and keep it with your other secrets";

const PREFIX: &str = "mbs1.";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Domain separation: these bytes start every associated-data block, so a meetbot seal never opens as
/// anything else's and a future format cannot be confused with this one.
const AAD_LABEL: &[u8] = b"meetbot seal v1\0";

/// Why a key could not be read or a value not opened. Never carries key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The master key's text is not 32 bytes in base64 or hex.
    #[error(
        "{MASTER_KEY_ENV} must be 32 random bytes written as base64 (44 characters) or hex \
         (64 characters), but it is {found}; {MAKE_ONE}"
    )]
    BadMasterKey {
        /// What was found, in words (length, never the value).
        found: String,
    },
    /// The value is not in a format this version knows.
    #[error("a sealed value is not in a known format (expected it to start with `{PREFIX}`)")]
    Format,
    /// Wrong key, or the value was altered or moved to another row.
    #[error("a sealed value does not open with this master key (wrong {MASTER_KEY_ENV}, or the stored value was altered or moved)")]
    Open,
}

/// The master key. Zeroed when dropped; prints as `MasterKey(***)`.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// What a sealed value is for: the server it belongs to and its role there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purpose {
    guild_id: u64,
    what: String,
}

impl Purpose {
    /// The private half of one of meetbot's signing keys (bound to the kid too, so keys cannot be swapped
    /// between generations).
    pub fn signing_key(guild_id: u64, kid: &str) -> Purpose {
        Purpose {
            guild_id,
            what: format!("signing-key:{kid}"),
        }
    }

    /// A server's own Prosody `app_secret`.
    pub fn hs256_secret(guild_id: u64) -> Purpose {
        Purpose {
            guild_id,
            what: "hs256-secret".into(),
        }
    }

    /// A server's 8x8 JaaS private key.
    pub fn jaas_private_key(guild_id: u64) -> Purpose {
        Purpose {
            guild_id,
            what: "jaas-private-key".into(),
        }
    }

    /// The canary that proves at start-up that the master key is the one the data was sealed with.
    pub fn canary() -> Purpose {
        Purpose {
            guild_id: 0,
            what: "canary".into(),
        }
    }

    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(AAD_LABEL.len() + 8 + self.what.len());
        aad.extend_from_slice(AAD_LABEL);
        aad.extend_from_slice(&self.guild_id.to_be_bytes());
        aad.extend_from_slice(self.what.as_bytes());
        aad
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl MasterKey {
    /// Reads a key written as 64 hex digits or as base64 (standard or URL-safe, padded or not) of 32 bytes.
    pub fn parse(text: &str) -> Result<MasterKey, SealError> {
        let t = text.trim();
        let bytes: Option<Zeroizing<Vec<u8>>> = if t.len() == 64 && is_hex(t) {
            (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()
                .map(Zeroizing::new)
        } else {
            [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(t).ok())
                .map(Zeroizing::new)
        };
        let found = match &bytes {
            _ if t.is_empty() => "empty".to_owned(),
            Some(b) if b.len() == 32 => {
                // Placeholders like 32 zero bytes or "AAAA…" are not keys.
                if b.iter().all(|x| *x == b[0]) {
                    "the same byte 32 times (a placeholder, not a random key)".to_owned()
                } else {
                    let mut key = Zeroizing::new([0u8; 32]);
                    key.copy_from_slice(b);
                    return Ok(MasterKey(key));
                }
            }
            Some(b) => format!("{} characters that decode to {} bytes", t.len(), b.len()),
            None => format!("{} characters that are neither base64 nor hex", t.len()),
        };
        Err(SealError::BadMasterKey { found })
    }

    /// The key from the environment (`get` reads a variable): `None` when unset or blank.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<MasterKey>, SealError> {
        match get(MASTER_KEY_ENV) {
            Some(text) if !text.trim().is_empty() => {
                MasterKey::parse(&Zeroizing::new(text)).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// A random key (tests, and `meetbot` printing a suggestion).
    pub fn generate(rng: &mut (impl CryptoRng + RngCore)) -> MasterKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        MasterKey(key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }

    /// Seals `plaintext` for `purpose` with a fresh random nonce.
    pub fn seal(
        &self,
        purpose: &Purpose,
        plaintext: &[u8],
        rng: &mut (impl CryptoRng + RngCore),
    ) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let aad = purpose.associated_data();
        let ciphertext = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message that fits in memory");
        let mut raw = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, purpose: &Purpose, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Format)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Format)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Format);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Format)?;
        let aad = purpose.associated_data();
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }

    /// Opens a sealed UTF-8 text (a PEM or a secret).
    pub fn open_text(
        &self,
        purpose: &Purpose,
        sealed: &str,
    ) -> Result<crate::secret::Secret, SealError> {
        let bytes = self.open(purpose, sealed)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| SealError::Open)?;
        Ok(crate::secret::Secret::new(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn sealed_value_opens_only_with_its_key_server_and_purpose() {
        let key = MasterKey::generate(&mut OsRng);
        let p = Purpose::hs256_secret(42);
        let sealed = key.seal(&p, b"app-secret", &mut OsRng);
        assert!(sealed.starts_with("mbs1."));
        assert!(!sealed.contains("app-secret"));
        assert_eq!(key.open(&p, &sealed).unwrap().as_slice(), b"app-secret");

        assert_eq!(
            key.open(&Purpose::hs256_secret(43), &sealed),
            Err(SealError::Open)
        );
        assert_eq!(
            key.open(&Purpose::jaas_private_key(42), &sealed),
            Err(SealError::Open)
        );
        let other = MasterKey::generate(&mut OsRng);
        assert_eq!(other.open(&p, &sealed), Err(SealError::Open));
    }

    #[test]
    fn each_seal_has_its_own_nonce_and_tampering_is_caught() {
        let key = MasterKey::generate(&mut OsRng);
        let p = Purpose::signing_key(1, "meetbot/1/1-ab");
        let a = key.seal(&p, b"pem", &mut OsRng);
        let b = key.seal(&p, b"pem", &mut OsRng);
        assert_ne!(a, b);
        assert_eq!(
            key.open(&Purpose::signing_key(1, "meetbot/1/2-ab"), &a),
            Err(SealError::Open)
        );
        let mut raw = URL_SAFE_NO_PAD.decode(&a[PREFIX.len()..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(key.open(&p, &tampered), Err(SealError::Open));
        assert_eq!(key.open(&p, "pem"), Err(SealError::Format));
        assert_eq!(key.open(&p, "mbs1.AAAA"), Err(SealError::Format));
        assert_eq!(key.open(&p, "mbs2.AAAA"), Err(SealError::Format));
    }

    #[test]
    fn master_key_reads_base64_and_hex_and_refuses_the_rest_without_echoing() {
        let bytes: Vec<u8> = (1..=32).collect();
        let b64 = STANDARD.encode(&bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let a = MasterKey::parse(&b64).unwrap();
        let b = MasterKey::parse(&format!(" {hex}\n")).unwrap();
        let c = MasterKey::parse(&URL_SAFE_NO_PAD.encode(&bytes)).unwrap();
        let sealed = a.seal(&Purpose::canary(), b"x", &mut OsRng);
        assert!(b.open(&Purpose::canary(), &sealed).is_ok());
        assert!(c.open(&Purpose::canary(), &sealed).is_ok());

        for bad in [
            "",
            "hunter2",
            &STANDARD.encode([7u8; 16]),
            &STANDARD.encode([0u8; 32]),
            &hex[..62],
        ] {
            let err = MasterKey::parse(bad).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("openssl rand -base64 32"), "{text}");
            if bad.len() > 4 {
                assert!(!text.contains(bad), "{text}");
            }
        }
        assert_eq!(format!("{a:?}"), "MasterKey(***)");
    }

    #[test]
    fn unset_or_blank_environment_means_no_key() {
        assert!(MasterKey::from_env(|_| None).unwrap().is_none());
        assert!(MasterKey::from_env(|_| Some("  ".into()))
            .unwrap()
            .is_none());
        assert!(MasterKey::from_env(|_| Some("short".into())).is_err());
    }
}
