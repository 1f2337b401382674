//! The default key prefix of a deployment, and hex digits for key names.

use sha2::{Digest as _, Sha256};

/// What every default key prefix starts with.
const PREFIX_HEAD: &str = "wst:";

/// The default key prefix for a deployment whose values are of type `T`:
/// `wst:` and 8 hex digits of a digest of the running executable's file
/// name and `T`'s type name, then `:`. Replicas of one application run the
/// same executable with the same types, so they agree; two applications
/// sharing a Redis differ unless both are equal.
pub(crate) fn deployment_prefix<T: ?Sized>() -> String {
    let executable = std::env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let digest = Sha256::new()
        .chain_update(b"tower-ws-ticket key prefix\0")
        .chain_update(executable.as_bytes())
        .chain_update(b"\0")
        .chain_update(std::any::type_name::<T>().as_bytes())
        .finalize();
    let mut prefix = String::with_capacity(PREFIX_HEAD.len() + 9);
    prefix.push_str(PREFIX_HEAD);
    push_hex(&mut prefix, &digest[..4]);
    prefix.push(':');
    prefix
}

/// Appends `bytes` to `text` as lowercase hex digits.
pub(crate) fn push_hex(text: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &byte in bytes {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_prefixes_differ_by_type_and_agree_within_one() {
        struct A;
        struct B;
        let a = deployment_prefix::<A>();
        assert_eq!(a, deployment_prefix::<A>());
        assert_ne!(a, deployment_prefix::<B>());
        assert_eq!(a.len(), "wst:".len() + 8 + 1);
        assert!(a.starts_with("wst:") && a.ends_with(':'));
    }
}
