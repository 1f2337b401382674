//! The default key prefix of a deployment, and hex digits for key names.

use sha2::{Digest as _, Sha256};

/// What every default key prefix starts with.
const PREFIX_HEAD: &str = "wst:";

/// The default key prefix for a deployment whose values are of type `T`:
/// `wst:` and 8 hex digits of a digest of `T`'s type name, then `:`; or
/// `None` when `T` is no type of the application's own.
///
/// Replicas of one application agree on their types, whatever their
/// executable is called and whichever version they run, so a rolling
/// deploy keeps them together. Two applications sharing a Redis keep apart
/// by accident only if their types differ: a type of the application's
/// own (`myapp::UserId`) names its crate, but `String`, `u64` or a tuple of
/// them could be any application's, and then no default is safe. The
/// builders refuse to connect without a prefix in that case.
pub(crate) fn deployment_prefix<T: ?Sized>() -> Option<String> {
    let name = std::any::type_name::<T>();
    if !names_an_application_type(name) {
        return None;
    }
    let digest = Sha256::new()
        .chain_update(b"tower-ws-ticket key prefix v2\0")
        .chain_update(name.as_bytes())
        .finalize();
    let mut prefix = String::with_capacity(PREFIX_HEAD.len() + 9);
    prefix.push_str(PREFIX_HEAD);
    push_hex(&mut prefix, &digest[..4]);
    prefix.push(':');
    Some(prefix)
}

/// Whether a type name holds a path into a crate other than the standard
/// library's (`std`, `core`, `alloc`): primitives have no path.
fn names_an_application_type(name: &str) -> bool {
    name.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter_map(|path| path.split_once("::").map(|(krate, _)| krate))
        .any(|krate| !matches!(krate, "std" | "core" | "alloc"))
}

/// The error of a builder asked to connect without a key prefix when its
/// type gives no default.
pub(crate) fn prefix_required<T: ?Sized>(what: &str) -> ::redis::RedisError {
    ::redis::RedisError::from((
        ::redis::ErrorKind::InvalidClientConfig,
        "set a key prefix",
        format!(
            "{what}'s type `{}` could be any application's, so no default key prefix \
             keeps applications sharing a Redis apart: call `key_prefix` with one of \
             this application's own",
            std::any::type_name::<T>()
        ),
    ))
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
        let a = deployment_prefix::<A>().expect("a type of ours");
        assert_eq!(Some(&a), deployment_prefix::<A>().as_ref());
        assert_ne!(Some(a.clone()), deployment_prefix::<B>());
        assert_eq!(a.len(), "wst:".len() + 8 + 1);
        assert!(a.starts_with("wst:") && a.ends_with(':'));
    }

    #[test]
    fn types_any_application_could_use_have_no_default() {
        struct Mine;
        assert_eq!(deployment_prefix::<String>(), None);
        assert_eq!(deployment_prefix::<u64>(), None);
        assert_eq!(deployment_prefix::<(String, u32)>(), None);
        assert_eq!(deployment_prefix::<Vec<Option<u8>>>(), None);
        assert!(deployment_prefix::<Vec<Mine>>().is_some());
        assert!(deployment_prefix::<(u64, Mine)>().is_some());
        let err = prefix_required::<String>("a registry").to_string();
        assert!(
            err.contains("key_prefix") && err.contains("String"),
            "{err}"
        );
    }
}
