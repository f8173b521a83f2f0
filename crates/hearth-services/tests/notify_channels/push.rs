//! Web Push: the stand-in checks the VAPID signature and decrypts the payload with the
//! subscription's keys (RFC 8291, written here apart from the hub's code); a 410
//! removes the subscription.

use super::*;

/// The push service stand-in: a loopback receiver answering with `statuses`.
async fn push_service(
    statuses: Vec<u16>,
) -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<hearth_testkit::http::Request>,
) {
    hearth_testkit::http::receiver(statuses).await
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_sha256(salt: &[u8], secret: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
        .extract(secret)
        .expand(&[info], Len(len))
        .unwrap()
        .fill(&mut out)
        .unwrap();
    out
}

/// RFC 8291 decryption, as a browser does it.
fn decrypt(
    body: &[u8],
    browser_private: agreement::EphemeralPrivateKey,
    browser_public: &[u8],
    auth: &[u8],
) -> Vec<u8> {
    let salt = &body[..16];
    let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap());
    assert_eq!(record_size, 4096);
    let key_length = body[20] as usize;
    assert_eq!(key_length, 65);
    let server_public = &body[21..21 + key_length];
    let ciphertext = &body[21 + key_length..];
    let shared = agreement::agree_ephemeral(
        browser_private,
        &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, server_public),
        |secret| secret.to_vec(),
    )
    .unwrap();
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(browser_public);
    key_info.extend_from_slice(server_public);
    let ikm = hkdf_sha256(auth, &shared, &key_info, 32);
    let cek = hkdf_sha256(salt, &ikm, b"Content-Encoding: aes128gcm\0", 16);
    let nonce = hkdf_sha256(salt, &ikm, b"Content-Encoding: nonce\0", 12);
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).unwrap());
    let mut record = ciphertext.to_vec();
    let plain = key
        .open_in_place(
            aead::Nonce::try_assume_unique_for_key(&nonce).unwrap(),
            aead::Aad::empty(),
            &mut record,
        )
        .expect("the payload decrypts with the subscription's keys");
    // Strip the padding and the last record's delimiter (2).
    let end = plain.iter().rposition(|byte| *byte != 0).unwrap();
    assert_eq!(plain[end], 2, "one last record");
    plain[..end].to_vec()
}

async fn web_push_is_encrypted_signed_and_gone_subscriptions_removed(backend: Backend) {
    let test_store = hearth_testkit::test_store(backend).await;
    let store = test_store.store();
    let home = seed(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(VapidKeys::load_or_create(&dir.path().join("vapid.pem")).unwrap());
    let (port, mut requests) = push_service(vec![201, 410]).await;

    // The browser's keys, made here as a browser makes them.
    let rng = ring::rand::SystemRandom::new();
    let browser_private =
        agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).unwrap();
    let browser_public = browser_private
        .compute_public_key()
        .unwrap()
        .as_ref()
        .to_vec();
    let auth: [u8; 16] = *b"sixteen-byte-sec";
    let endpoint = format!("http://127.0.0.1:{port}/push/v1/li-phone");
    store
        .put_push_subscription(&PushSubscription {
            id: "ps-1".into(),
            user: name("li"),
            endpoint: endpoint.clone(),
            p256dh: URL_SAFE_NO_PAD.encode(&browser_public),
            auth: URL_SAFE_NO_PAD.encode(auth),
            created_at_ms: NOON,
        })
        .await
        .unwrap();
    let targets = recipients(&*store, &home, Severity::Major, "push", NOON)
        .await
        .unwrap();
    assert_eq!(targets.len(), 1, "alice has no subscription: {targets:?}");
    assert_eq!(targets[0]["language"], "zh-CN");
    let alert = open_alert(&store, &home, |_| Vec::new()).await;
    let note = notification(&alert, "n-push", "push", targets[0].clone());
    let channel = PushChannel::new(
        store.clone(),
        HttpClient::default(),
        keys.clone(),
        "mailto:admin@example.org".into(),
        3600,
    );

    assert_eq!(channel.deliver(&note).await.unwrap(), "HTTP 201");
    let request = tokio::time::timeout(DEADLINE, requests.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.header("content-encoding"), "aes128gcm");
    assert_eq!(request.header("content-type"), "application/octet-stream");
    assert_eq!(request.header("ttl"), "3600");
    // VAPID: the JWT is signed by the key the web app was given, for this origin.
    let authorization = request.header("authorization");
    let rest = authorization.strip_prefix("vapid t=").unwrap();
    let (token, key) = rest.split_once(", k=").unwrap();
    assert_eq!(key, keys.public_key());
    let (signed, signature) = token.rsplit_once('.').unwrap();
    signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        URL_SAFE_NO_PAD.decode(key).unwrap(),
    )
    .verify(
        signed.as_bytes(),
        &URL_SAFE_NO_PAD.decode(signature).unwrap(),
    )
    .expect("the VAPID signature verifies with the hub's public key");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(signed.split_once('.').unwrap().1)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], format!("http://127.0.0.1:{port}"));
    assert_eq!(claims["sub"], "mailto:admin@example.org");
    // The payload, decrypted with the subscription's private key.
    let plain = decrypt(&request.body, browser_private, &browser_public, &auth);
    let shown: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(shown["title"], "【Hearth】重要：Freezer too warm");
    assert_eq!(shown["body"], "freezer temperature is 80");
    assert_eq!(shown["url"], "/alerts/al-1");
    assert_eq!(shown["alert"], "al-1");

    // The push service says the subscription is gone: deleted, and no retry.
    let failure = channel.deliver(&note).await.unwrap_err();
    assert!(failure.permanent, "{failure:?}");
    assert!(
        store
            .push_subscriptions(&name("li"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        recipients(&*store, &home, Severity::Major, "push", NOON)
            .await
            .unwrap()
            .is_empty()
    );
}

hearth_testkit::both_backends_hub!(web_push_is_encrypted_signed_and_gone_subscriptions_removed);
