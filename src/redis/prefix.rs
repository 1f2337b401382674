//! The default key prefix of a deployment, and hex digits for key names.

use sha2::{Digest as _, Sha256};

/// What every default key prefix starts with.
const PREFIX_HEAD: &str = "wst:";

/// The default key prefix for a deployment whose values are of type `T`:
/// `wst:` and 8 hex digits of a digest, then `:`.
///
/// For a type of the application's own (`myapp::UserId`, which names its
/// crate) the digest is of the type's name alone: replicas of one
/// application agree on it whatever their executable is called and
/// whichever version they run, so a rolling deploy keeps them together,
/// and applications with types of their own differ.
///
/// `String`, `u64` or a tuple of them could be any application's: two
/// applications sharing a Redis would then share tickets and revocations.
/// For those the digest also covers the executable's file name, which
/// keeps applications apart by accident, as release 0.1's successor did;
/// but a build under another name then stops sharing with the others, so
/// this is logged as a warning once, asking for an explicit prefix.
pub(crate) fn deployment_prefix<T: ?Sized>(what: &str) -> String {
    let name = std::any::type_name::<T>();
    let mut digest = Sha256::new()
        .chain_update(b"tower-ws-ticket key prefix v2\0")
        .chain_update(name.as_bytes());
    if !names_an_application_type(name) {
        let executable = executable_name();
        tracing::warn!(
            target: "tower_ws_ticket::redis",
            r#type = name,
            executable = %executable,
            "{what}'s type could be any application's, so the default key prefix also \
             names this executable: a build under another name will not share tickets or \
             revocations with this one; set `key_prefix` to one of this application's own"
        );
        digest = digest
            .chain_update(b"\0")
            .chain_update(executable.as_bytes());
    }
    let digest = digest.finalize();
    let mut prefix = String::with_capacity(PREFIX_HEAD.len() + 9);
    prefix.push_str(PREFIX_HEAD);
    push_hex(&mut prefix, &digest[..4]);
    prefix.push(':');
    prefix
}

/// The running executable's file name without its extension, or `unknown`.
fn executable_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether a type name holds a path into a crate other than the standard
/// library's (`std`, `core`, `alloc`): primitives have no path.
fn names_an_application_type(name: &str) -> bool {
    name.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter_map(|path| path.split_once("::").map(|(krate, _)| krate))
        .any(|krate| !matches!(krate, "std" | "core" | "alloc"))
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
        let a = deployment_prefix::<A>("a test");
        assert_eq!(a, deployment_prefix::<A>("a test"));
        assert_ne!(a, deployment_prefix::<B>("a test"));
        assert_eq!(a.len(), "wst:".len() + 8 + 1);
        assert!(a.starts_with("wst:") && a.ends_with(':'));
    }

    #[test]
    fn types_any_application_could_use_also_name_the_executable() {
        struct Mine;
        assert!(!names_an_application_type(std::any::type_name::<String>()));
        assert!(!names_an_application_type(std::any::type_name::<u64>()));
        assert!(!names_an_application_type(std::any::type_name::<(
            String,
            u32
        )>()));
        assert!(!names_an_application_type(std::any::type_name::<
            Vec<Option<u8>>,
        >()));
        assert!(names_an_application_type(std::any::type_name::<Vec<Mine>>()));
        assert!(names_an_application_type(
            std::any::type_name::<(u64, Mine)>()
        ));
        // Still a prefix, and one that differs from the type's alone.
        let common = deployment_prefix::<String>("a test");
        assert!(common.starts_with("wst:") && common.ends_with(':'));
        let mut type_only = String::from("wst:");
        let digest = Sha256::new()
            .chain_update(b"tower-ws-ticket key prefix v2\0")
            .chain_update(std::any::type_name::<String>().as_bytes())
            .finalize();
        push_hex(&mut type_only, &digest[..4]);
        type_only.push(':');
        assert_ne!(common, type_only);
    }
}
