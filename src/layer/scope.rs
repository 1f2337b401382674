//! Which paths the layer guards, for stacks without per-route layers.
//!
//! With no path configured the layer guards every upgrade. Paths compare
//! after percent-decoding, so `/api/%77s` is `/api/ws`: a router that
//! decodes before matching must not reach a guarded handler unguarded.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl Scope {
    pub(crate) fn add_exact(&mut self, path: String) {
        self.exact.push(path);
    }

    pub(crate) fn add_prefix(&mut self, prefix: String) {
        self.prefixes.push(prefix);
    }

    pub(crate) fn contains(&self, path: &str) -> bool {
        if self.exact.is_empty() && self.prefixes.is_empty() {
            return true;
        }
        let path: Cow<'_, str> = percent_decode_str(path).decode_utf8_lossy();
        self.exact.iter().any(|exact| *exact == path)
            || self.prefixes.iter().any(|prefix| under(&path, prefix))
    }
}

/// Whether `path` is `prefix` or lies below it, on a segment boundary.
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_scope_covers_everything() {
        assert!(Scope::default().contains("/anything"));
    }

    #[test]
    fn exact_and_prefix_paths() {
        let mut scope = Scope::default();
        scope.add_exact("/api/ws".into());
        scope.add_prefix("/live".into());
        scope.add_prefix("/rooms/".into());
        for inside in ["/api/ws", "/api/%77s", "/live", "/live/a/b", "/rooms/1"] {
            assert!(scope.contains(inside), "{inside}");
        }
        for outside in ["/api/ws/", "/api/wsx", "/api", "/livex", "/rooms", "/"] {
            assert!(!scope.contains(outside), "{outside}");
        }
    }
}
