//! The DingTalk/WeCom callback crypto (`hrhub_connector::callback_crypto`).
//!
//! First line, then lines of arguments:
//! - `verify` / timestamp / nonce / encrypt / signature: signature check,
//!   timestamp window, decryption; and the signature computed for those
//!   values must verify (any case) while a changed one must not.
//! - `frame` / bytes: the bytes are a decrypted plaintext frame
//!   (`random16 ‖ len ‖ msg ‖ receive id ‖ padding`), zero-filled to whole
//!   AES blocks and encrypted raw, so `decrypt`'s padding, length and
//!   receive-id checks see arbitrary frames. Whatever it accepts must be
//!   exactly the framed message.
//! - `new` / token / EncodingAESKey / receive id / message: configuration
//!   checks; a configuration it accepts must round-trip the message.
//! - `timestamp` / value / window seconds: the timestamp window.
//! - anything else: the whole input is an `encrypt` to decrypt.
#![no_main]

use aes::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use chrono::{TimeZone, Utc};
use hrhub_connector::callback_crypto::{check_timestamp, CallbackCrypto};
use hrhub_connector::PushError;
use hrhub_fuzz::{dingtalk_vector as v, split_head};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

/// The AES key the EncodingAESKey stands for (base64 of it plus `=`).
fn key() -> [u8; 32] {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    engine
        .decode(format!("{}=", v::AES_KEY))
        .unwrap()
        .try_into()
        .unwrap()
}

fn lines(rest: &[u8]) -> Vec<&str> {
    std::str::from_utf8(rest)
        .map(|s| s.split('\n').collect())
        .unwrap_or_default()
}

fn arg<'a>(args: &[&'a str], i: usize) -> &'a str {
    args.get(i).copied().unwrap_or("")
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = split_head(data) else {
        return;
    };
    match head {
        "verify" => {
            let args = lines(rest);
            let (ts, nonce, encrypt, sig) =
                (arg(&args, 0), arg(&args, 1), arg(&args, 2), arg(&args, 3));
            let c = v::crypto();
            let _ = c.verify(ts, nonce, encrypt, sig);
            let now = Utc.timestamp_opt(1_445_827_045, 0).unwrap();
            let _ = check_timestamp(ts, now, Duration::from_secs(300));
            let _ = c.decrypt(encrypt);
            let good = c.signature(ts, nonce, encrypt);
            c.verify(ts, nonce, encrypt, &good).unwrap();
            c.verify(ts, nonce, encrypt, &good.to_ascii_uppercase())
                .unwrap();
            let mut bad = good.into_bytes();
            bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
            let bad = String::from_utf8(bad).unwrap();
            assert!(matches!(
                c.verify(ts, nonce, encrypt, &bad),
                Err(PushError::Signature(_))
            ));
        }
        "frame" => {
            let mut frame = rest.to_vec();
            if frame.is_empty() {
                return;
            }
            frame.resize(frame.len().div_ceil(16) * 16, 0);
            let key = key();
            let len = frame.len();
            let cipher = cbc::Encryptor::<aes::Aes256>::new(&key.into(), key[..16].into())
                .encrypt_padded_mut::<NoPadding>(&mut frame.clone(), len)
                .unwrap()
                .to_vec();
            let encrypt = base64::engine::general_purpose::STANDARD.encode(cipher);
            match v::crypto().decrypt(&encrypt) {
                Ok(msg) => {
                    let pad = *frame.last().unwrap() as usize;
                    let content = &frame[..len - pad];
                    let msg_len = u32::from_be_bytes(content[16..20].try_into().unwrap()) as usize;
                    assert_eq!(msg, &content[20..20 + msg_len]);
                    assert_eq!(&content[20 + msg_len..], v::RECEIVE_ID.as_bytes());
                }
                Err(PushError::Signature(_)) => {}
                Err(e) => panic!("well-formed ciphertext refused as {e:?}"),
            }
        }
        "new" => {
            let args = lines(rest);
            let Ok(c) = CallbackCrypto::new(arg(&args, 0), arg(&args, 1), arg(&args, 2)) else {
                return;
            };
            let msg = arg(&args, 3).as_bytes();
            let encrypt = c.encrypt_with(msg, hrhub_fuzz::SEAL_PREFIX);
            assert_eq!(c.decrypt(&encrypt).unwrap(), msg);
            let sig = c.signature("1", "n", &encrypt);
            c.verify("1", "n", &encrypt, &sig).unwrap();
        }
        "timestamp" => {
            let args = lines(rest);
            let window = arg(&args, 1).trim().parse().unwrap_or(300);
            let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
            let _ = check_timestamp(arg(&args, 0), now, Duration::from_secs(window));
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(data) {
                let _ = v::crypto().decrypt(text);
            }
        }
    }
});
