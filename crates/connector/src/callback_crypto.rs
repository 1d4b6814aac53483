//! The callback crypto WeCom and DingTalk share (Tencent's "WXBizMsgCrypt"
//! scheme): a SHA-1 signature over the sorted `[token, timestamp, nonce,
//! encrypt]` strings, and AES-256-CBC over
//! `random(16) ‖ msg_len (u32 BE) ‖ msg ‖ receive_id`, PKCS#7-padded to a
//! 32-byte multiple.
//!
//! - key = base64-decode(EncodingAESKey + "="), 32 bytes; IV = key[0..16].
//!   EncodingAESKey is 43 characters whose last one carries 2 unused bits;
//!   the platforms do not zero them (e.g. WeCom's sample key ends in `C`),
//!   so the key is decoded with trailing bits allowed.
//! - The receive id is the CorpID for WeCom self-built-app and contacts
//!   callbacks (SuiteID for suites); for DingTalk the app key (Client ID),
//!   the CorpId for legacy `register_call_back`, or the suite key.
//! - Receiving: verify the signature first ([`CallbackCrypto::verify`],
//!   constant time), then [`CallbackCrypto::decrypt`], which validates the
//!   padding (every pad byte equal, value 1..=32), the length prefix and the
//!   trailing receive id.
//!
//! Error choices: [`CallbackCrypto::new`] returns `Result<Self, String>`
//! (a configuration problem, worded for the admin; callers wrap it in their
//! config error). A wrong or missing signature is [`PushError::Signature`];
//! so is a receive id that differs from the configured one (the message was
//! sealed for another corp/app: treat like a forged delivery). Undecodable
//! ciphertext (bad base64, not whole AES blocks) is [`PushError::Malformed`];
//! ciphertext that does not open under the configured key (bad padding or
//! length prefix: another key, or tampering) is [`PushError::Signature`]; `decrypt` returns bytes and leaves UTF-8 and
//! message parsing to the caller. A timestamp outside the window is
//! [`PushError::Stale`].

use crate::push::PushError;
use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use rand::Rng;
use sha1::{Digest, Sha1};
use std::fmt;
use std::time::Duration;
use subtle::ConstantTimeEq;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Padding block size of the scheme (not AES's 16).
const PAD_BLOCK: usize = 32;

/// Standard alphabet, padding accepted when present, non-zero trailing bits
/// accepted (the platforms' EncodingAESKeys have them).
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Signs, verifies, encrypts and decrypts callback payloads for one
/// (token, EncodingAESKey, receive id). `Debug` shows only the receive id.
#[derive(Clone)]
pub struct CallbackCrypto {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl fmt::Debug for CallbackCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackCrypto")
            .field("token", &"<redacted>")
            .field("key", &"<redacted>")
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

impl CallbackCrypto {
    /// `encoding_aes_key` must be the 43-character EncodingAESKey
    /// (letters and digits) as shown in the platform's console; `token` must
    /// be non-empty; `receive_id` is the id sealed into each plaintext.
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, String> {
        if token.is_empty() {
            return Err("callback token is empty".into());
        }
        if encoding_aes_key.len() != 43 {
            return Err(format!(
                "EncodingAESKey must be exactly 43 characters, got {}",
                encoding_aes_key.chars().count()
            ));
        }
        if !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("EncodingAESKey must contain only letters and digits".into());
        }
        let decoded = LENIENT_B64
            .decode(format!("{encoding_aes_key}="))
            .map_err(|e| format!("EncodingAESKey is not valid base64: {e}"))?;
        let key: [u8; 32] = decoded
            .try_into()
            .map_err(|_| "EncodingAESKey does not decode to 32 bytes".to_string())?;
        if receive_id.is_empty() {
            return Err("callback receive id (corp id / app key) is empty".into());
        }
        Ok(CallbackCrypto {
            token: token.to_string(),
            key,
            receive_id: receive_id.to_string(),
        })
    }

    /// The receive id sealed into (and required in) every plaintext.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// `hex(sha1(sort([token, timestamp, nonce, encrypted]).concat()))`, lowercase.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypted];
        parts.sort_unstable();
        let mut hasher = Sha1::new();
        for part in parts {
            hasher.update(part.as_bytes());
        }
        hex_lower(&hasher.finalize())
    }

    /// Checks `signature` (hex, any case) in constant time.
    pub fn verify(
        &self,
        timestamp: &str,
        nonce: &str,
        encrypted: &str,
        signature: &str,
    ) -> Result<(), PushError> {
        if signature.is_empty() {
            return Err(PushError::Signature("msg_signature is missing".into()));
        }
        let expected = self.signature(timestamp, nonce, encrypted);
        let given = signature.to_ascii_lowercase();
        if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            Ok(())
        } else {
            Err(PushError::Signature(
                "msg_signature does not match the token and payload".into(),
            ))
        }
    }

    /// Decrypts a base64 payload and returns the message bytes (the caller
    /// decides whether they must be UTF-8). Verify the signature first.
    pub fn decrypt(&self, encrypted_b64: &str) -> Result<Vec<u8>, PushError> {
        let malformed = |m: &str| PushError::Malformed(format!("encrypted payload: {m}"));
        // Well-formed ciphertext that does not open under our key was sealed
        // with another key or tampered with: an authentication failure.
        let unopenable = |m: &str| {
            PushError::Signature(format!(
                "encrypted payload does not open with the configured EncodingAESKey ({m}): wrong key or tampered ciphertext"
            ))
        };
        let mut buf = LENIENT_B64
            .decode(encrypted_b64.trim())
            .map_err(|e| malformed(&format!("not base64 ({e})")))?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(malformed(&format!(
                "ciphertext length {} is not a positive multiple of the AES block",
                buf.len()
            )));
        }
        let plain = Aes256CbcDec::new(&self.key.into(), self.key[..16].into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| malformed("cannot decrypt"))?;
        let pad = *plain.last().expect("non-empty") as usize;
        if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
            return Err(unopenable("bad padding"));
        }
        let (content, padding) = plain.split_at(plain.len() - pad);
        // Not secret-dependent in a way that matters (the signature was
        // checked first), but cheap to keep constant time anyway.
        let mut bad = 0u8;
        for b in padding {
            bad |= b ^ (pad as u8);
        }
        if bad != 0 {
            return Err(unopenable("bad padding"));
        }
        if content.len() < 20 {
            return Err(unopenable("plaintext shorter than its header"));
        }
        let msg_len = u32::from_be_bytes(content[16..20].try_into().expect("4 bytes")) as usize;
        let rest = &content[20..];
        if msg_len > rest.len() {
            return Err(unopenable(&format!(
                "message length {msg_len} exceeds the {} bytes present",
                rest.len()
            )));
        }
        let (msg, receive_id) = rest.split_at(msg_len);
        if !bool::from(receive_id.ct_eq(self.receive_id.as_bytes())) {
            return Err(PushError::Signature(format!(
                "payload is sealed for receive id `{}`, not the configured `{}`",
                String::from_utf8_lossy(receive_id),
                self.receive_id
            )));
        }
        Ok(msg.to_vec())
    }

    /// Encrypts with a fresh random 16-character alphanumeric prefix (as the
    /// official libraries do).
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        let mut random16 = [0u8; 16];
        let mut rng = rand::rng();
        for b in &mut random16 {
            *b = rng.sample(rand::distr::Alphanumeric);
        }
        self.encrypt_with(plaintext, random16)
    }

    /// Deterministic encryption with the given 16-byte prefix (test vectors, mocks).
    pub fn encrypt_with(&self, plaintext: &[u8], random16: [u8; 16]) -> String {
        let mut buf = Vec::with_capacity(20 + plaintext.len() + self.receive_id.len() + PAD_BLOCK);
        buf.extend_from_slice(&random16);
        buf.extend_from_slice(&(plaintext.len() as u32).to_be_bytes());
        buf.extend_from_slice(plaintext);
        buf.extend_from_slice(self.receive_id.as_bytes());
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        buf.extend(std::iter::repeat_n(pad as u8, pad));
        let len = buf.len();
        let cipher = Aes256CbcEnc::new(&self.key.into(), self.key[..16].into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .expect("buffer is block aligned");
        base64::engine::general_purpose::STANDARD.encode(cipher)
    }
}

/// A random nonce for replies (16 alphanumeric characters).
pub fn random_nonce() -> String {
    let mut rng = rand::rng();
    (0..16)
        .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
        .collect()
}

/// Rejects timestamps outside ±`window` of `now`.
///
/// `timestamp` is Unix time as decimal text, in seconds (WeCom) — or in
/// milliseconds, which DingTalk has been seen to send: a value above
/// 10^11 (year 5138 in seconds) is read as milliseconds.
pub fn check_timestamp(
    timestamp: &str,
    now: chrono::DateTime<chrono::Utc>,
    window: Duration,
) -> Result<(), PushError> {
    let value: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| PushError::Stale(format!("timestamp `{timestamp}` is not a number")))?;
    // unsigned_abs / abs_diff: any i64 the sender writes (i64::MIN too)
    // must come out as a distance, never overflow.
    let millis = if value.unsigned_abs() > 100_000_000_000 {
        value
    } else {
        value * 1000
    };
    let skew_ms = now.timestamp_millis().abs_diff(millis);
    let window_ms = window.as_millis().min(u64::MAX as u128) as u64;
    if skew_ms > window_ms {
        return Err(PushError::Stale(format!(
            "timestamp {timestamp} is {}s from now; at most {}s is accepted",
            skew_ms / 1000,
            window.as_secs()
        )));
    }
    Ok(())
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn check_vector(
        c: &CallbackCrypto,
        sig: &str,
        ts: &str,
        nonce: &str,
        encrypt: &str,
        plain: &str,
    ) {
        assert_eq!(c.signature(ts, nonce, encrypt), sig);
        c.verify(ts, nonce, encrypt, sig).unwrap();
        let out = c.decrypt(encrypt).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), plain);
    }

    // ---- WeCom vectors (reference wecom.md §5e) ----

    fn wv1() -> CallbackCrypto {
        CallbackCrypto::new(
            "QDG6eK",
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            "wx5823bf96d3bd56c7",
        )
        .unwrap()
    }

    const WV1_ENCRYPT: &str = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
    const WV1_PLAIN: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";

    #[test]
    fn wv1_get_verify() {
        check_vector(
            &wv1(),
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
            "1409659589",
            "263014780",
            "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
            "1616140317555161061",
        );
    }

    #[test]
    fn wv1_get_verify_roundtrips_with_the_known_prefix() {
        let c = wv1();
        assert_eq!(
            c.encrypt_with(b"1616140317555161061", *b"c41b64491c2468d0"),
            "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
        );
    }

    #[test]
    fn wv1_post_message() {
        let c = wv1();
        check_vector(
            &c,
            "477715d11cdb4164915debcba66cb864d751f3e6",
            "1409659813",
            "1372623149",
            WV1_ENCRYPT,
            WV1_PLAIN,
        );
        assert_eq!(WV1_PLAIN.len(), 284);
    }

    #[test]
    fn wv2_get_and_post() {
        let c = CallbackCrypto::new(
            "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
            "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
            "ww1436e0e65a779aee",
        )
        .unwrap();
        check_vector(
            &c,
            "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
            "1476416373",
            "47744683",
            "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
            "1288432023552776189",
        );
        let plain = "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName><CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content><MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>";
        assert_eq!(plain.len(), 228);
        check_vector(
            &c,
            "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
            "1476422779",
            "1597212914",
            "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+",
            plain,
        );
    }

    fn wv3() -> CallbackCrypto {
        CallbackCrypto::new(
            "123456",
            "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
            "wx49f0ab532d5d035a",
        )
        .unwrap()
    }

    const WV3_ECHO: &str =
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";

    #[test]
    fn wv3_get_verify_and_wrong_nonce() {
        let c = wv3();
        check_vector(
            &c,
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
            "1411443780",
            "437374425",
            WV3_ECHO,
            "5927782489442352469",
        );
        let err = c
            .verify(
                "1411443780",
                "437374424",
                WV3_ECHO,
                "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
            )
            .unwrap_err();
        assert!(matches!(err, PushError::Signature(_)), "{err}");
    }

    #[test]
    fn wv3_post_decrypt_pad_one() {
        let plain = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>";
        assert_eq!(plain.len(), 281);
        check_vector(
            &wv3(),
            "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
            "1411525903",
            "461056294",
            "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=",
            plain,
        );
    }

    #[test]
    fn wv3_deterministic_encrypt() {
        let c = wv3();
        let msg = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
        let encrypted = c.encrypt_with(msg.as_bytes(), *b"1234567890123456");
        assert_eq!(encrypted, "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3");
        assert_eq!(
            c.signature("1411525903", "461056294", &encrypted),
            "407518b7649e86ef23978113f92d27afa9296533"
        );
        assert_eq!(c.decrypt(&encrypted).unwrap(), msg.as_bytes());
    }

    // ---- DingTalk vectors (reference dingtalk.md §5e) ----

    fn dv1() -> CallbackCrypto {
        CallbackCrypto::new(
            "123456",
            "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij",
            "suite4xxxxxxxxxxxxxxx",
        )
        .unwrap()
    }

    const DV_MSG: &str = r#"{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}"#;
    const DV1_ENCRYPT: &str = "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==";

    #[test]
    fn dv1_decrypt_and_signature() {
        let c = dv1();
        check_vector(
            &c,
            "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0",
            "1445827045067",
            "nEXhMP4r",
            DV1_ENCRYPT,
            DV_MSG,
        );
        assert_eq!(
            c.encrypt_with(DV_MSG.as_bytes(), *b"hU3bEfGZZewzhG5a"),
            DV1_ENCRYPT
        );
        // negative: wrong nonce
        assert!(matches!(
            c.verify(
                "1445827045067",
                "xxxxx",
                DV1_ENCRYPT,
                "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0"
            ),
            Err(PushError::Signature(_))
        ));
    }

    #[test]
    fn dv2_deterministic_encrypt() {
        let c = dv1();
        let encrypted = c.encrypt_with(DV_MSG.as_bytes(), *b"1234567890123456");
        assert_eq!(encrypted, "5DJFWzjRNOQk+5GSZxW+VrFMDWCIidPjEjg3//gm5x556BedVi62rDj1F9uXU97a4jw1R4FACUv9RCpoDobNqxhxRB2YtW901k4KHbP1/wpFJ3xdLG0n0A8U1VhENg80zKJd+YROR0YMGum4WYuoXJ6J98vt0ihYeIFoapNddLML5MyNAGM9saSpkouDMSvD+iU14i7V8ix1ia1Tb9ogog==");
        assert_eq!(
            c.signature("1445827045067", "nEXhMP4r", &encrypted),
            "bcf6dcefa4ce2dbaf7b0666c7264d46fd9aad4bd"
        );
    }

    #[test]
    fn dv3_success_reply() {
        let c = CallbackCrypto::new(
            "123456",
            "1234567890123456789012345678901234567890123",
            "dingsnotzck6pm5veliw",
        )
        .unwrap();
        let encrypt =
            "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA==";
        check_vector(
            &c,
            "9a95a004dd16f5c307e849b994173f76aa26e5eb",
            "1614767836",
            "A7Co0cJLMzIDtMMI",
            encrypt,
            "success",
        );
        assert_eq!(c.encrypt_with(b"success", *b"dICkEDLj0eb6yAbc"), encrypt);
    }

    // ---- negative cases ----

    #[test]
    fn tampered_signature_is_rejected() {
        let c = wv1();
        let mut sig = "477715d11cdb4164915debcba66cb864d751f3e6".to_string();
        sig.replace_range(0..1, "5");
        for bad in [sig.as_str(), "", "477715d1"] {
            assert!(matches!(
                c.verify("1409659813", "1372623149", WV1_ENCRYPT, bad),
                Err(PushError::Signature(_))
            ));
        }
        // tampered payload, original signature
        let tampered = WV1_ENCRYPT.replacen('R', "S", 1);
        assert!(matches!(
            c.verify(
                "1409659813",
                "1372623149",
                &tampered,
                "477715d11cdb4164915debcba66cb864d751f3e6"
            ),
            Err(PushError::Signature(_))
        ));
        // upper-case hex is accepted
        c.verify(
            "1409659813",
            "1372623149",
            WV1_ENCRYPT,
            "477715D11CDB4164915DEBCBA66CB864D751F3E6",
        )
        .unwrap();
    }

    #[test]
    fn wrong_receive_id_is_a_signature_error() {
        let other = CallbackCrypto::new(
            "QDG6eK",
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            "wwSOMEOTHERCORP",
        )
        .unwrap();
        let err = other.decrypt(WV1_ENCRYPT).unwrap_err();
        assert!(matches!(err, PushError::Signature(_)), "{err}");
        assert!(err.to_string().contains("wx5823bf96d3bd56c7"));
    }

    #[test]
    fn bad_padding_is_malformed() {
        let c = wv1();
        // Craft plaintexts whose padding is invalid, encrypt them raw.
        let raw_encrypt = |plain: &mut Vec<u8>| {
            let len = plain.len();
            let out = Aes256CbcEnc::new(&c.key.into(), c.key[..16].into())
                .encrypt_padded_mut::<NoPadding>(plain, len)
                .unwrap()
                .to_vec();
            base64::engine::general_purpose::STANDARD.encode(out)
        };
        // pad byte 0
        let mut p = vec![b'a'; 32];
        p[31] = 0;
        assert!(matches!(
            c.decrypt(&raw_encrypt(&mut p)),
            Err(PushError::Signature(_))
        ));
        // pad byte 33 (> 32)
        let mut p = vec![b'a'; 64];
        p[63] = 33;
        assert!(matches!(
            c.decrypt(&raw_encrypt(&mut p)),
            Err(PushError::Signature(_))
        ));
        // inconsistent pad bytes
        let mut p = vec![b'a'; 32];
        p[31] = 3;
        p[30] = 3;
        assert!(matches!(
            c.decrypt(&raw_encrypt(&mut p)),
            Err(PushError::Signature(_))
        ));
        // length prefix larger than the content
        let mut p = vec![0u8; 32];
        p[16..20].copy_from_slice(&1000u32.to_be_bytes());
        p[31] = 1;
        assert!(matches!(
            c.decrypt(&raw_encrypt(&mut p)),
            Err(PushError::Signature(_))
        ));
        // not base64, not block aligned, empty
        for bad in ["!!!not base64!!!", "YWJj", ""] {
            assert!(
                matches!(c.decrypt(bad), Err(PushError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn wrong_key_fails_to_decrypt() {
        let other = CallbackCrypto::new(
            "QDG6eK",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "wx5823bf96d3bd56c7",
        )
        .unwrap();
        // With overwhelming probability the padding is invalid; if it ever
        // happened to look valid, the receive id check still refuses.
        let err = other.decrypt(WV1_ENCRYPT).unwrap_err();
        assert!(
            matches!(err, PushError::Malformed(_) | PushError::Signature(_)),
            "{err}"
        );
    }

    #[test]
    fn new_rejects_bad_keys() {
        assert!(CallbackCrypto::new("t", "short", "r").is_err());
        assert!(CallbackCrypto::new("t", &"a".repeat(44), "r").is_err());
        assert!(
            CallbackCrypto::new("t", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2+", "r").is_err()
        );
        assert!(
            CallbackCrypto::new("", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "r").is_err()
        );
        assert!(
            CallbackCrypto::new("t", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "").is_err()
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let shown = format!("{:?}", wv1());
        assert!(!shown.contains("QDG6eK"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn random_encrypt_roundtrips() {
        let c = wv1();
        let a = c.encrypt("你好, exactly 32 bytes!?".as_bytes());
        let b = c.encrypt("你好, exactly 32 bytes!?".as_bytes());
        assert_ne!(a, b);
        assert_eq!(
            c.decrypt(&a).unwrap(),
            "你好, exactly 32 bytes!?".as_bytes()
        );
        // every plaintext length mod 32, including a full 32-byte pad
        for n in 0..70 {
            let msg = vec![b'x'; n];
            assert_eq!(c.decrypt(&c.encrypt(&msg)).unwrap(), msg);
        }
        assert_eq!(random_nonce().len(), 16);
    }

    #[test]
    fn timestamp_window_both_sides() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let w = Duration::from_secs(300);
        check_timestamp("1700000000", now, w).unwrap();
        check_timestamp("1699999700", now, w).unwrap();
        check_timestamp("1700000300", now, w).unwrap();
        assert!(matches!(
            check_timestamp("1699999699", now, w),
            Err(PushError::Stale(_))
        ));
        assert!(matches!(
            check_timestamp("1700000301", now, w),
            Err(PushError::Stale(_))
        ));
        assert!(matches!(
            check_timestamp("abc", now, w),
            Err(PushError::Stale(_))
        ));
        assert!(matches!(
            check_timestamp("", now, w),
            Err(PushError::Stale(_))
        ));
        // milliseconds (DingTalk)
        check_timestamp("1700000299999", now, w).unwrap();
        assert!(matches!(
            check_timestamp("1700000301000", now, w),
            Err(PushError::Stale(_))
        ));
    }

    /// Found with the `callback_crypto` fuzz target: the extremes of i64
    /// overflowed (`abs`, the subtraction) instead of being refused as stale.
    #[test]
    fn extreme_timestamps_are_stale_not_overflows() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let w = Duration::from_secs(300);
        for ts in [
            "-9223372036854775808",
            "-9223372036854775807",
            "9223372036854775807",
            "-100000000001",
        ] {
            assert!(
                matches!(check_timestamp(ts, now, w), Err(PushError::Stale(_))),
                "{ts}"
            );
        }
        check_timestamp("-9223372036854775808", now, Duration::MAX).unwrap();
    }
}
