//! Which paths the layer guards, for stacks without per-route layers.
//!
//! With no path configured the layer guards every upgrade. Configured and
//! requested paths go through one canonical form before they are compared:
//! percent-decoded, empty and `.` segments dropped, `..` applied. Routers
//! differ in how forgiving they are (warp matches `/api/ws/` to
//! `path!("api" / "ws")`, others decode `%77`), and the guard must cover
//! every spelling a router might send to a guarded handler: guarding a
//! request that no handler would take costs nothing.

use percent_encoding::percent_decode_str;

#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    /// Canonical segments of each exact path.
    exact: Vec<Vec<String>>,
    /// Canonical segments of each prefix.
    prefixes: Vec<Vec<String>>,
}

impl Scope {
    pub(crate) fn add_exact(&mut self, path: &str) {
        self.exact.push(canonical(checked(path)));
    }

    pub(crate) fn add_prefix(&mut self, prefix: &str) {
        self.prefixes.push(canonical(checked(prefix)));
    }

    pub(crate) fn contains(&self, path: &str) -> bool {
        if self.exact.is_empty() && self.prefixes.is_empty() {
            return true;
        }
        let path = canonical(path);
        self.exact.contains(&path) || self.prefixes.iter().any(|prefix| path.starts_with(prefix))
    }
}

/// A configured path must be absolute: a relative one would match nothing
/// and leave the route it was meant for unguarded.
fn checked(path: &str) -> &str {
    assert!(
        path.starts_with('/'),
        "guarded path {path:?} must start with '/'"
    );
    path
}

/// The path's segments, percent-decoded, without empty or `.` segments and
/// with `..` applied.
fn canonical(path: &str) -> Vec<String> {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let mut segments: Vec<String> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment.to_owned()),
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_scope_covers_everything() {
        assert!(Scope::default().contains("/anything"));
    }

    #[test]
    fn exact_and_prefix_paths_cover_every_spelling() {
        let mut scope = Scope::default();
        scope.add_exact("/api/ws");
        scope.add_prefix("/live");
        scope.add_prefix("/rooms/");
        for inside in [
            "/api/ws",
            "/api/ws/",
            "//api/ws",
            "/api/./ws",
            "/api/x/../ws",
            "/api/%77s",
            "/api%2Fws",
            "/live",
            "/live/a/b",
            "/rooms",
            "/rooms/1",
        ] {
            assert!(scope.contains(inside), "{inside}");
        }
        for outside in ["/api/wsx", "/api", "/api/ws/x", "/livex", "/", ""] {
            assert!(!scope.contains(outside), "{outside}");
        }
    }

    #[test]
    fn configured_paths_are_canonical_too() {
        let mut scope = Scope::default();
        scope.add_exact("/api/ws/");
        scope.add_prefix("/a%20b");
        assert!(scope.contains("/api/ws"));
        assert!(scope.contains("/a b/c"));
    }

    #[test]
    #[should_panic(expected = "must start with '/'")]
    fn relative_paths_are_refused() {
        Scope::default().add_exact("api/ws");
    }
}
