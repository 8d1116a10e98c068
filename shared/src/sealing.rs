//! Webhook credentials at rest: envelope encryption.
//!
//! A webhook's `security` (HMAC secrets, passwords, tokens, header values) is stored sealed:
//! AES-256-GCM under a data key, the data key itself stored beside it encrypted by a KMS key
//! (`GenerateDataKey` / `Decrypt`). Reading the table, a backup or an export therefore shows no
//! credential (of a webhook written since, or resealed by `hookline-admin reseal`), and only
//! roles that may `kms:Decrypt` with that key can open one.
//!
//! Each container generates one data key the first time it writes and keeps it, and keeps the
//! plaintext of every data key it has opened: the common read and write costs no KMS call.
//! A sealed value is bound to its webhook (the additional authenticated data is the account
//! and webhook id), so it cannot be copied onto another webhook and opened there.
//!
//! Sealed form: `hks1.<encrypted data key>.<nonce>.<ciphertext and tag>`, each part base64.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::FutureExt;

/// The version tag every sealed value starts with.
pub const SEALED_PREFIX: &str = "hks1";
/// Seals one data key may make before the container asks KMS for another (AES-GCM with random
/// nonces stays far from its 2^32 bound).
const SEALS_PER_DATA_KEY: u64 = 1 << 20;
/// Opened data keys kept per container; past it the map starts again.
const OPENED_KEYS_MAX: usize = 10_000;
/// What KMS binds every data key to: a data key of another purpose does not decrypt here.
pub const ENCRYPTION_CONTEXT: (&str, &str) = ("purpose", "hookline-webhook-credentials");

#[derive(Clone, Debug, thiserror::Error)]
pub enum SealError {
    #[error("the key service failed: {0}")]
    KeyService(String),
    #[error("a sealed value is malformed or was not sealed for this webhook")]
    Corrupt,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A new data key: its plaintext, and the same encrypted under the master key.
pub struct DataKey {
    pub plaintext: Vec<u8>,
    pub encrypted: Vec<u8>,
}

/// Where data keys come from: KMS in deployments and the local stack.
pub trait KeyService: Send + Sync {
    fn generate(&self) -> BoxFuture<'_, Result<DataKey, SealError>>;
    fn decrypt<'a>(&'a self, encrypted: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, SealError>>;
}

/// KMS: `GenerateDataKey` (AES-256) under `key_id` and `Decrypt`, both with the encryption
/// context above.
pub struct KmsKeys {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsKeys {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

fn kms_error<E: std::error::Error + Send + Sync + 'static>(
    e: aws_sdk_kms::error::SdkError<E>,
) -> SealError {
    SealError::KeyService(aws_sdk_kms::error::DisplayErrorContext(e).to_string())
}

impl KeyService for KmsKeys {
    fn generate(&self) -> BoxFuture<'_, Result<DataKey, SealError>> {
        Box::pin(async move {
            let out = self
                .client
                .generate_data_key()
                .key_id(&self.key_id)
                .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                .encryption_context(ENCRYPTION_CONTEXT.0, ENCRYPTION_CONTEXT.1)
                .send()
                .await
                .map_err(kms_error)?;
            match (out.plaintext, out.ciphertext_blob) {
                (Some(plaintext), Some(encrypted)) => Ok(DataKey {
                    plaintext: plaintext.into_inner(),
                    encrypted: encrypted.into_inner(),
                }),
                _ => Err(SealError::KeyService(
                    "GenerateDataKey answered without a key".into(),
                )),
            }
        })
    }

    fn decrypt<'a>(&'a self, encrypted: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, SealError>> {
        Box::pin(async move {
            let out = self
                .client
                .decrypt()
                .key_id(&self.key_id)
                .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(encrypted))
                .encryption_context(ENCRYPTION_CONTEXT.0, ENCRYPTION_CONTEXT.1)
                .send()
                .await
                .map_err(|e| {
                    // Not a data key of this key and context: no retry will open it.
                    let permanent = e.as_service_error().is_some_and(|s| {
                        s.is_invalid_ciphertext_exception() || s.is_incorrect_key_exception()
                    });
                    if permanent {
                        SealError::Corrupt
                    } else {
                        kms_error(e)
                    }
                })?;
            out.plaintext
                .map(|p| p.into_inner())
                .ok_or_else(|| SealError::KeyService("Decrypt answered without a key".into()))
        })
    }
}

/// The data key this container seals with.
struct WritingKey {
    key: Arc<LessSafeKey>,
    encrypted_b64: String,
    seals: AtomicU64,
}

/// A data key being decrypted, awaited by every read that needs it.
type Opening = futures::future::Shared<BoxFuture<'static, Result<Arc<LessSafeKey>, SealError>>>;

/// Seals and opens credentials; one per container, shared by every store clone.
pub struct Sealer {
    keys: Arc<dyn KeyService>,
    writing: tokio::sync::Mutex<Option<Arc<WritingKey>>>,
    /// Opened data keys, by their encrypted form (base64, as stored).
    opened: Mutex<HashMap<String, Arc<LessSafeKey>>>,
    /// Data keys being decrypted: a batch whose webhooks all meet one new data key at once
    /// asks KMS once, not once per webhook, and all of them get its answer (a failure too,
    /// so an outage costs one wait, not one per webhook).
    opening: Mutex<HashMap<String, Opening>>,
    key_service_calls: AtomicU64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_service_calls", &self.key_service_calls())
            .finish_non_exhaustive()
    }
}

fn aes_key(plaintext: &[u8]) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&AES_256_GCM, plaintext)
        .map(LessSafeKey::new)
        .map_err(|_| SealError::KeyService("a data key is not 256 bits".into()))
}

/// What a sealed value is bound to.
fn aad(account_id: &str, webhook_id: &str) -> String {
    format!("hookline/webhook/{account_id}/{webhook_id}")
}

impl Sealer {
    pub fn new(keys: impl KeyService + 'static) -> Self {
        Self {
            keys: Arc::new(keys),
            writing: tokio::sync::Mutex::new(None),
            opened: Mutex::new(HashMap::new()),
            opening: Mutex::new(HashMap::new()),
            key_service_calls: AtomicU64::new(0),
        }
    }

    /// KMS calls this container made: the cost the cache is for.
    pub fn key_service_calls(&self) -> u64 {
        self.key_service_calls.load(Ordering::Relaxed)
    }

    async fn writing_key(&self) -> Result<Arc<WritingKey>, SealError> {
        let mut writing = self.writing.lock().await;
        if let Some(current) = writing.as_ref() {
            if current.seals.load(Ordering::Relaxed) < SEALS_PER_DATA_KEY {
                return Ok(current.clone());
            }
        }
        self.key_service_calls.fetch_add(1, Ordering::Relaxed);
        let data_key = self.keys.generate().await?;
        let key = Arc::new(aes_key(&data_key.plaintext)?);
        let encrypted_b64 = STANDARD.encode(&data_key.encrypted);
        self.remember(encrypted_b64.clone(), key.clone());
        let fresh = Arc::new(WritingKey {
            key,
            encrypted_b64,
            seals: AtomicU64::new(0),
        });
        *writing = Some(fresh.clone());
        Ok(fresh)
    }

    fn remember(&self, encrypted_b64: String, key: Arc<LessSafeKey>) {
        let mut opened = self.opened.lock().unwrap();
        if opened.len() >= OPENED_KEYS_MAX {
            opened.clear();
        }
        opened.insert(encrypted_b64, key);
    }

    /// `plaintext` sealed for the webhook `account_id`/`webhook_id`.
    pub async fn seal(
        &self,
        account_id: &str,
        webhook_id: &str,
        plaintext: &[u8],
    ) -> Result<String, SealError> {
        let writing = self.writing_key().await?;
        writing.seals.fetch_add(1, Ordering::Relaxed);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::KeyService(e.to_string()))?;
        let mut sealed = plaintext.to_vec();
        writing
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(account_id, webhook_id).as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::Corrupt)?;
        Ok(format!(
            "{SEALED_PREFIX}.{}.{}.{}",
            writing.encrypted_b64,
            STANDARD.encode(nonce),
            STANDARD.encode(sealed)
        ))
    }

    /// The plaintext of `sealed`, which must have been sealed for this webhook.
    pub async fn open(
        &self,
        account_id: &str,
        webhook_id: &str,
        sealed: &str,
    ) -> Result<Vec<u8>, SealError> {
        let mut parts = sealed.split('.');
        let (Some(SEALED_PREFIX), Some(edk), Some(nonce), Some(body), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SealError::Corrupt);
        };
        let key = self.data_key(edk).await?;
        let nonce: [u8; NONCE_LEN] = STANDARD
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(SealError::Corrupt)?;
        let mut body = STANDARD.decode(body).map_err(|_| SealError::Corrupt)?;
        let plaintext = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(account_id, webhook_id).as_bytes()),
                &mut body,
            )
            .map_err(|_| SealError::Corrupt)?;
        Ok(plaintext.to_vec())
    }

    async fn data_key(&self, encrypted_b64: &str) -> Result<Arc<LessSafeKey>, SealError> {
        let cached = || self.opened.lock().unwrap().get(encrypted_b64).cloned();
        if let Some(key) = cached() {
            return Ok(key);
        }
        let encrypted = STANDARD
            .decode(encrypted_b64)
            .map_err(|_| SealError::Corrupt)?;
        let opening =
            self.opening
                .lock()
                .unwrap()
                .entry(encrypted_b64.to_string())
                .or_insert_with(|| {
                    self.key_service_calls.fetch_add(1, Ordering::Relaxed);
                    let keys = self.keys.clone();
                    let open: BoxFuture<'static, _> = Box::pin(async move {
                        Ok(Arc::new(aes_key(&keys.decrypt(&encrypted).await?)?))
                    });
                    open.shared()
                })
                .clone();
        let opened = opening.await;
        // Kept once opened; a failure is not kept, so the next read asks again.
        if let Ok(key) = &opened {
            self.remember(encrypted_b64.to_string(), key.clone());
        }
        self.opening.lock().unwrap().remove(encrypted_b64);
        opened
    }
}

/// A key service in memory, for tests: data keys "encrypted" by AES-GCM under a fixed master,
/// so what is stored differs from the plaintext as with KMS.
#[cfg(any(test, feature = "testing"))]
pub struct MemoryKeys {
    master: LessSafeKey,
}

#[cfg(any(test, feature = "testing"))]
impl Default for MemoryKeys {
    fn default() -> Self {
        Self {
            master: aes_key(&[7u8; 32]).expect("32 bytes"),
        }
    }
}

#[cfg(any(test, feature = "testing"))]
impl KeyService for MemoryKeys {
    fn generate(&self) -> BoxFuture<'_, Result<DataKey, SealError>> {
        Box::pin(async move {
            let mut plaintext = vec![0u8; 32];
            getrandom::fill(&mut plaintext).map_err(|e| SealError::KeyService(e.to_string()))?;
            let mut encrypted = plaintext.clone();
            self.master
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key([0; NONCE_LEN]),
                    Aad::empty(),
                    &mut encrypted,
                )
                .map_err(|_| SealError::Corrupt)?;
            Ok(DataKey {
                plaintext,
                encrypted,
            })
        })
    }

    fn decrypt<'a>(&'a self, encrypted: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, SealError>> {
        Box::pin(async move {
            let mut buffer = encrypted.to_vec();
            let plaintext = self
                .master
                .open_in_place(
                    Nonce::assume_unique_for_key([0; NONCE_LEN]),
                    Aad::empty(),
                    &mut buffer,
                )
                .map_err(|_| SealError::Corrupt)?;
            Ok(plaintext.to_vec())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key service that cannot decrypt (KMS down), counting the attempts.
    struct Unreachable(Arc<AtomicU64>);

    impl KeyService for Unreachable {
        fn generate(&self) -> BoxFuture<'_, Result<DataKey, SealError>> {
            Box::pin(async { Err(SealError::KeyService("unreachable".into())) })
        }
        fn decrypt<'a>(&'a self, _: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, SealError>> {
            self.0.fetch_add(1, Ordering::Relaxed);
            // A call takes a while (here 50 ms; a hung KMS, the SDK's timeout).
            Box::pin(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(SealError::KeyService("unreachable".into()))
            })
        }
    }

    #[tokio::test]
    async fn an_outage_costs_one_wait_for_a_whole_batch_then_is_asked_again() {
        let sealed = Sealer::new(MemoryKeys::default())
            .seal("acme", "wh_1", b"{}")
            .await
            .unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let down = Sealer::new(Unreachable(calls.clone()));
        let opened =
            futures::future::join_all((0..10).map(|_| down.open("acme", "wh_1", &sealed))).await;
        assert!(opened
            .iter()
            .all(|o| matches!(o, Err(SealError::KeyService(_)))));
        assert_eq!(calls.load(Ordering::Relaxed), 1, "ten reads, one Decrypt");
        assert!(down.open("acme", "wh_1", &sealed).await.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2, "a failure is not kept");
    }

    #[tokio::test]
    async fn sealed_values_open_only_for_their_webhook_and_cost_one_key_per_container() {
        let sealer = Sealer::new(MemoryKeys::default());
        let secret = br#"{"type":"bearer","token":"tok-very-secret"}"#;
        let a = sealer.seal("acme", "wh_1", secret).await.unwrap();
        let b = sealer.seal("acme", "wh_2", secret).await.unwrap();
        assert!(a.starts_with("hks1."));
        assert!(
            !a.contains("very-secret") && a != b,
            "random nonces: {a} {b}"
        );
        assert_eq!(sealer.open("acme", "wh_1", &a).await.unwrap(), secret);
        assert_eq!(
            sealer.key_service_calls(),
            1,
            "one data key, opened from memory"
        );
        // Bound to its webhook: moved to another, or tampered with, it does not open.
        for (account, webhook) in [("acme", "wh_2"), ("globex", "wh_1")] {
            let moved = sealer.open(account, webhook, &a).await;
            assert!(
                matches!(moved, Err(SealError::Corrupt)),
                "{account}/{webhook}"
            );
        }
        let mut tampered = a.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(sealer.open("acme", "wh_1", &tampered).await.is_err());
        for broken in ["", "hks1", "hks1.a.b", "hks2.a.b.c", "hks1.!.b.c"] {
            assert!(
                sealer.open("acme", "wh_1", broken).await.is_err(),
                "{broken}"
            );
        }

        // Another container opens it with one Decrypt, then from memory, even when a batch
        // meets the new data key in many webhooks at once.
        let other = Sealer::new(MemoryKeys::default());
        let opened =
            futures::future::join_all((0..10).map(|_| other.open("acme", "wh_1", &a))).await;
        assert!(opened
            .iter()
            .all(|o| o.as_deref().ok() == Some(&secret[..])));
        assert_eq!(other.open("acme", "wh_2", &b).await.unwrap(), secret);
        assert_eq!(other.key_service_calls(), 1);
    }
}
