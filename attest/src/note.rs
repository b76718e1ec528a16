//! Signed tree heads in the C2SP formats the transparency-log ecosystem shares (Go's
//! `sumdb/note`, Rekor v2, witnesses): a *checkpoint* (`<origin>\n<size>\n<base64 root>\n`)
//! wrapped in a *signed note* (the text, a blank line, then `— <key name> <base64(key id ||
//! Ed25519 signature)>` lines). Verifier keys are shared as `<name>+<hex key id>+<base64(0x01 ||
//! public key)>`, so any C2SP tool can check Tollgate's checkpoints and Tollgate can check
//! them offline.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use crate::merkle::Hash;

const ALG_ED25519: u8 = 0x01;
/// U+2014 EM DASH and a space: how every signature line starts.
const SIG_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("key: {0}")]
    Key(String),
    #[error("note is malformed: {0}")]
    Malformed(String),
    #[error("no signature by {0} on the note")]
    NotSigned(String),
    #[error("signature by {0} does not verify")]
    BadSignature(String),
    #[error("checkpoint is malformed: {0}")]
    Checkpoint(String),
}

fn key_id(name: &str, public: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

/// Signs notes with an Ed25519 key under a name (the log's origin, by convention).
pub struct NoteSigner {
    name: String,
    key: Ed25519KeyPair,
    id: [u8; 4],
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// From a PKCS#8 (v1 or v2) Ed25519 private key.
    pub fn from_pkcs8(name: &str, der: &[u8]) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(format!(
                "key name {name:?} must be non-empty, without spaces or '+'"
            )));
        }
        let key = Ed25519KeyPair::from_pkcs8(der)
            .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(der))
            .map_err(|e| NoteError::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let id = key_id(name, key.public_key().as_ref());
        Ok(NoteSigner {
            name: name.to_string(),
            key,
            id,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key to publish: `<name>+<hex key id>+<base64(0x01 || public key)>`.
    pub fn verifier_key(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(self.key.public_key().as_ref());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(k)
        )
    }

    /// `text` (which must end in a newline and hold no blank line) as a signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') || text.contains("\n\n") {
            return Err(NoteError::Malformed(
                "note text must end in a newline and contain no blank line".into(),
            ));
        }
        let sig = self.key.sign(text.as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(sig.as_ref());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

/// Checks notes signed by one named key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    public: Vec<u8>,
}

impl NoteVerifier {
    /// Parses a verifier key (`<name>+<hex key id>+<base64(0x01 || public key)>`).
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let bad = |m: &str| NoteError::Key(format!("verifier key {vkey:?}: {m}"));
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected NAME+KEYID+KEY"));
        };
        let key = STANDARD.decode(key).map_err(|_| bad("key is not base64"))?;
        let (alg, public) = key.split_first().ok_or_else(|| bad("empty key"))?;
        if *alg != ALG_ED25519 || public.len() != 32 {
            return Err(bad("not an Ed25519 key"));
        }
        let want = key_id(name, public);
        if hex::encode(want) != id.to_ascii_lowercase() {
            return Err(bad("key id does not match the name and key"));
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            id: want,
            public: public.to_vec(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signed text of `note` if this key signed it. A signature line by this key that
    /// does not verify rejects the note; lines by other keys are ignored.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
        let text = &note[..split + 1];
        let sigs = &note[split + 2..];
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("no signature lines".into()));
        }
        for line in sigs.lines() {
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| NoteError::Malformed(format!("bad signature line {line:?}")))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| NoteError::Malformed(format!("bad signature line {line:?}")))?;
            let blob = STANDARD
                .decode(b64)
                .map_err(|_| NoteError::Malformed(format!("signature of {name} is not base64")))?;
            if name != self.name || blob.len() < 4 || blob[..4] != self.id {
                continue;
            }
            return UnparsedPublicKey::new(&ED25519, &self.public)
                .verify(text.as_bytes(), &blob[4..])
                .map(|()| text)
                .map_err(|_| NoteError::BadSignature(self.name.clone()));
        }
        Err(NoteError::NotSigned(self.name.clone()))
    }
}

/// A tree head: the log's origin line, its size and root (C2SP tlog-checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Reads checkpoint text (extension lines after the root are allowed and ignored).
    pub fn from_text(text: &str) -> Result<Self, NoteError> {
        let bad = |m: &str| NoteError::Checkpoint(m.to_string());
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin"))?;
        let size = lines
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("no tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("no 32-byte base64 root hash"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;

    fn signer(name: &str) -> NoteSigner {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        NoteSigner::from_pkcs8(name, doc.as_ref()).unwrap()
    }

    #[test]
    fn checkpoints_sign_and_verify_and_any_change_is_caught() {
        let s = signer("tollgate.example/audit");
        let cp = Checkpoint {
            origin: "tollgate.example/audit".into(),
            size: 20_852_163,
            root: [7u8; 32],
        };
        let note = s.sign(&cp.to_text()).unwrap();
        assert!(
            note.contains("\n\n\u{2014} tollgate.example/audit "),
            "{note}"
        );
        let v = NoteVerifier::parse(&s.verifier_key()).unwrap();
        let text = v.open(&note).unwrap();
        assert_eq!(Checkpoint::from_text(text).unwrap(), cp);

        // a different size under the same signature
        let forged = note.replace("20852163", "20852164");
        assert_eq!(
            v.open(&forged),
            Err(NoteError::BadSignature("tollgate.example/audit".into()))
        );
        // another key's signature only
        let other = signer("tollgate.example/audit");
        let by_other = other.sign(&cp.to_text()).unwrap();
        assert_eq!(
            v.open(&by_other),
            Err(NoteError::NotSigned("tollgate.example/audit".into()))
        );
        assert!(v.open("no signatures\n").is_err());
    }

    #[test]
    fn verifier_keys_are_checked() {
        let s = signer("log");
        let k = s.verifier_key();
        assert!(NoteVerifier::parse(&k).is_ok());
        assert!(
            NoteVerifier::parse(&k.replacen("log", "gol", 1)).is_err(),
            "key id binds the name"
        );
        assert!(NoteVerifier::parse("log+00000000").is_err());
        assert!(NoteSigner::from_pkcs8("has space", b"x").is_err());
    }

    /// The example note and verifier key of the Go `sumdb/note` documentation.
    #[test]
    fn opens_the_reference_example() {
        let v = NoteVerifier::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        )
        .unwrap();
        let note = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        assert_eq!(
            v.open(note).unwrap(),
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
        );
    }
}
