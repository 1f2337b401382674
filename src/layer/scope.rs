//! Which paths the layer guards, for stacks without per-route layers.
//!
//! With no path configured the layer guards every upgrade. Otherwise the
//! question is not "is this path `/api/ws`?" but "could *any* router send
//! this request to a handler under a guarded path?", because the layer
//! cannot know which router sits behind it, and routers disagree:
//!
//! - axum (matchit), warp and a hand-written `strip_prefix` router split
//!   the raw path on `/` and treat `..`, `%2e%2e` or `x%2F..` as an
//!   ordinary segment: `/api/ws/..` reaches `/api/ws/{room}`.
//! - A normalising proxy or router percent-decodes and applies `..`:
//!   `/api/x/../ws` reaches `/api/ws`.
//! - Some decode before they split (`/api%2Fws` is `/api/ws`), some decode
//!   twice, some ignore case or empty segments.
//!
//! So a request path is read every one of those ways ([`Readings`]), and it
//! is in scope when any reading falls under a guarded path. Guarding a
//! request that no handler would take costs nothing; missing one opens a
//! socket without a credential.
//!
//! A path in scope that holds a dot-segment or an encoded `/` or `\` in any
//! reading is refused outright (see [`Verdict::Ambiguous`]): which handler
//! it reaches, and what that handler does with a `..` it was given as a
//! parameter, depends on the router, and no browser sends such a path to a
//! socket on its own (it normalises dot-segments before sending).

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// How many times a path is percent-decoded at most, for routers (or
/// proxy chains) that decode more than once: `%252e` is `%2e` is `.`.
const MAX_DECODES: usize = 3;

#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    /// Every reading ([`forms`]) of each exact path.
    exact: Vec<Vec<String>>,
    /// Every reading ([`forms`]) of each prefix.
    prefixes: Vec<Vec<String>>,
}

/// What the scope says about one request path, from the most lenient to
/// the strictest (a request read as several paths gets the strictest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    /// No router could route it under a guarded path: pass it on.
    Outside,
    /// Under a guarded path: it needs a credential.
    Guarded,
    /// Under a guarded path in some reading, and spelled with dot-segments
    /// or encoded separators: refused whatever it carries.
    Ambiguous,
}

impl Scope {
    pub(crate) fn add_exact(&mut self, path: &str) {
        self.exact.extend(forms(checked(path)));
    }

    pub(crate) fn add_prefix(&mut self, prefix: &str) {
        self.prefixes.extend(forms(checked(prefix)));
    }

    /// Whether every upgrade is guarded (no path configured).
    pub(crate) fn is_everything(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }

    pub(crate) fn verdict(&self, path: &str) -> Verdict {
        if self.is_everything() {
            return Verdict::Guarded;
        }
        let readings = Readings::of(path);
        if !readings.all().any(|segments| self.covers(segments)) {
            Verdict::Outside
        } else if readings.ambiguous() {
            Verdict::Ambiguous
        } else {
            Verdict::Guarded
        }
    }

    /// Whether one reading of a path is a guarded path or under a guarded
    /// prefix. Segments compare ASCII case-insensitively: some routers do.
    fn covers(&self, segments: &[Cow<'_, str>]) -> bool {
        let same = |a: &[Cow<'_, str>], b: &[String]| {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.eq_ignore_ascii_case(b))
        };
        self.exact.iter().any(|exact| same(segments, exact))
            || self.prefixes.iter().any(|prefix| {
                segments.len() >= prefix.len() && same(&segments[..prefix.len()], prefix)
            })
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

/// A configured path's segments: percent-decoded, without empty or `.`
/// segments, `..` applied.
pub(crate) fn canonical(path: &str) -> Vec<String> {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let segments: Vec<Cow<'_, str>> = split(&decoded).into_iter().map(Cow::Borrowed).collect();
    resolve(&segments)
        .into_iter()
        .map(Cow::into_owned)
        .collect()
}

/// Every way a router might read a configured path, as lists of non-empty
/// segments: its [`canonical`] form, and the route a router that takes the
/// path literally sees: split raw, split then each segment decoded, or
/// decoded then split; each as it is and with dot-segments applied (both
/// ways of counting empty segments). For a plain path (`/api/ws`) these are
/// all one; for `/%2f%2fapi` (one segment `//api` to a router that decodes
/// segments, `api` to the guard) or `/a/%2e%2e/b`, they are not, and the
/// guard cannot know which one the router behind it uses.
fn forms(path: &str) -> Vec<Vec<String>> {
    let raw = segments(path);
    let per_segment: Vec<Cow<'_, str>> = raw
        .iter()
        .map(|segment| percent_decode_str(segment).decode_utf8_lossy())
        .collect();
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let spellings = [
        raw.iter().map(|s| Cow::Borrowed(*s)).collect(),
        per_segment,
        segments(&decoded).into_iter().map(Cow::Borrowed).collect(),
    ];
    let mut forms = vec![canonical(path)];
    for spelling in spellings {
        let non_empty: Vec<Cow<'_, str>> =
            spelling.iter().filter(|s| !s.is_empty()).cloned().collect();
        for form in [resolve(&spelling), resolve(&non_empty), non_empty] {
            let form: Vec<String> = form
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(Cow::into_owned)
                .collect();
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

/// Every way a router might read a request path, as lists of non-empty
/// segments: split raw; split, then each segment decoded; decoded (once,
/// then again as long as that changes it), then split; with `\` as `/`.
/// Each of those as it is, and with dot-segments applied, both over the
/// non-empty segments and with empty ones counted as RFC 3986 counts them
/// (`/api/ws//..` is `/api/ws/` there, `/api/ws` here).
pub(crate) struct Readings<'a> {
    readings: Vec<Vec<Cow<'a, str>>>,
    /// Whether any reading holds a dot-segment or an encoded separator.
    ambiguous: bool,
}

impl<'a> Readings<'a> {
    pub(crate) fn of(path: &'a str) -> Self {
        let raw = segments(path);
        let mut ambiguous = path.contains('\\');
        let per_segment: Vec<Cow<'a, str>> = raw
            .iter()
            .map(|segment| percent_decode_str(segment).decode_utf8_lossy())
            .collect();
        // Each spelling with its empty segments, which only dot-segments
        // care about.
        let mut spellings: Vec<Vec<Cow<'a, str>>> =
            vec![raw.iter().map(|s| Cow::Borrowed(*s)).collect(), per_segment];
        let mut text = path.to_owned();
        for _ in 0..MAX_DECODES {
            let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
            if decoded == text {
                break;
            }
            // An encoded `/` is a separator to routers that decode first,
            // and an encoded `\\` to some servers.
            ambiguous |= decoded.contains('\\') || slashes(&decoded) != slashes(&text);
            spellings.push(owned(segments(&decoded)));
            text = decoded;
        }
        if ambiguous {
            // Servers that take `\\` for `/` (it may have been encoded).
            spellings.push(owned(segments(&text.replace('\\', "/"))));
        }
        ambiguous |= spellings.iter().flatten().any(|s| is_dot(s));
        let mut readings = Vec::with_capacity(spellings.len());
        for spelling in spellings {
            let non_empty: Vec<Cow<'a, str>> =
                spelling.iter().filter(|s| !s.is_empty()).cloned().collect();
            if non_empty.iter().any(|s| is_dot(s)) {
                let mut resolved = vec![resolve(&non_empty)];
                // A `..` after `//` removes the empty segment in RFC 3986
                // (and the `url` crate), not the one before it: a
                // normalising router reads `/api//../ws` as `/api/ws`.
                if non_empty.len() < spelling.len() {
                    let mut with_empty = resolve(&spelling);
                    with_empty.retain(|s| !s.is_empty());
                    resolved.push(with_empty);
                }
                for segments in resolved {
                    // A router may apply the dot-segments it sees before
                    // decoding and decode the segments after:
                    // `/a%20b/%2e%2e/..` is `/a b` to it, `/` to one that
                    // decodes first.
                    let decoded: Vec<Cow<'a, str>> = segments
                        .iter()
                        .map(|s| Cow::Owned(percent_decode_str(s).decode_utf8_lossy().into_owned()))
                        .collect();
                    if decoded != segments {
                        readings.push(decoded);
                    }
                    readings.push(segments);
                }
            }
            readings.push(non_empty);
        }
        Self {
            readings,
            ambiguous,
        }
    }

    /// Every reading of the path.
    pub(crate) fn all(&self) -> impl Iterator<Item = &[Cow<'a, str>]> {
        self.readings.iter().map(Vec::as_slice)
    }

    /// Whether any reading holds a dot-segment or an encoded separator.
    pub(crate) fn ambiguous(&self) -> bool {
        self.ambiguous
    }
}

fn slashes(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'/').count()
}

fn is_dot(segment: &str) -> bool {
    segment == "." || segment == ".."
}

/// The non-empty `/`-separated segments of `path`.
fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The `/`-separated segments of `path` after its leading `/`, empty ones
/// included (`//a/` is `["", "a", ""]`).
fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

fn owned(segments: Vec<&str>) -> Vec<Cow<'static, str>> {
    segments
        .into_iter()
        .map(|s| Cow::Owned(s.to_owned()))
        .collect()
}

/// `segments` with `.` dropped and `..` applied.
fn resolve<'s>(segments: &[Cow<'s, str>]) -> Vec<Cow<'s, str>> {
    let mut out: Vec<Cow<'s, str>> = Vec::with_capacity(segments.len());
    for segment in segments {
        match segment.as_ref() {
            "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(segment.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(exact: &[&str], prefixes: &[&str]) -> Scope {
        let mut scope = Scope::default();
        exact.iter().for_each(|p| scope.add_exact(p));
        prefixes.iter().for_each(|p| scope.add_prefix(p));
        scope
    }

    #[test]
    fn empty_scope_covers_everything() {
        assert_eq!(Scope::default().verdict("/anything"), Verdict::Guarded);
        assert_eq!(Scope::default().verdict("/a/../b"), Verdict::Guarded);
    }

    #[test]
    fn exact_and_prefix_paths_cover_every_spelling() {
        let scope = scope(&["/api/ws"], &["/live", "/rooms/"]);
        for inside in [
            "/api/ws",
            "/api/ws/",
            "//api/ws",
            "/api/%77s",
            "/API/WS",
            "/live",
            "/live/a/b",
            "/rooms",
            "/rooms/1",
        ] {
            assert_eq!(scope.verdict(inside), Verdict::Guarded, "{inside}");
        }
        for outside in ["/api/wsx", "/api", "/api/ws/x", "/livex", "/", ""] {
            assert_eq!(scope.verdict(outside), Verdict::Outside, "{outside}");
        }
    }

    #[test]
    fn dot_segments_under_a_guarded_path_are_refused() {
        // Routers that take `..` as a segment (axum's `/api/ws/{room}`,
        // warp's `path!("api" / "ws" / String)`, `strip_prefix`) send these
        // to the guarded handler; reading them only as `/api` let them pass.
        let scope = scope(&[], &["/api/ws"]);
        for attack in [
            "/api/ws/..",
            "/api/ws/%2e%2e",
            "/api/ws/.%2e",
            "/api/ws/%2E.",
            "/api/ws/x%2F..%2F..",
            "/api/ws/x%2f..%2f..",
            "/api/ws/%252e%252e",
            "/api/ws/.",
            "/api/ws/./x",
            "/api/ws/..%5C..",
            "/api/ws\\..",
            "/api/x/../ws",
            "/api/x/%2e%2e/ws/room",
            "/api%2Fws",
            "/api%2fws/room",
            "/api/ws%2F",
        ] {
            assert_eq!(scope.verdict(attack), Verdict::Ambiguous, "{attack}");
        }
    }

    #[test]
    fn dot_segments_outside_every_guarded_path_pass() {
        let scope = scope(&["/api/ws"], &["/live"]);
        for outside in ["/static/../index.html", "/a/%2e%2e/b", "/api/ws/../../x"] {
            assert_eq!(scope.verdict(outside), Verdict::Outside, "{outside}");
        }
    }

    #[test]
    fn a_dot_segment_after_an_empty_one_is_read_as_rfc_3986_reads_it() {
        // RFC 3986 (and the `url` crate) let `..` remove the empty segment
        // of `//`: a normalising router sends these to /api/ws, which the
        // guard read as `/api` or `/ws`, outside its scope. Found by the
        // `scope` fuzz target.
        let exact = scope(&["/api/ws"], &[]);
        let prefix = scope(&[], &["/api/ws"]);
        for path in ["/api/ws//..", "/api/ws/x//../..", "/api/ws//%2e%2e"] {
            assert_eq!(exact.verdict(path), Verdict::Ambiguous, "{path}");
        }
        for path in [
            "/api//../ws",
            "/api//%2e%2e/ws/room",
            "/%2e%2e%2Fapi%2f/%2e%2e/ws",
        ] {
            assert_eq!(prefix.verdict(path), Verdict::Ambiguous, "{path}");
        }
        // Without a dot-segment, empty segments change nothing.
        assert_eq!(exact.verdict("/api//ws/"), Verdict::Guarded);
    }

    #[test]
    fn configured_paths_are_read_every_way_too() {
        // A router that decodes segments takes the route `/%2f%2fAPI` for
        // one segment `//API`, which the guard read only as `/API`: with a
        // dot-segment after it, a request reached the route unguarded.
        // Found by the `scope` fuzz target.
        let scope = scope(&["/%2f%2FAPI"], &["/a/%2e%2e/b"]);
        for path in [
            "/%2f%2FAPI/ws%2E%2E%2f%2e%2e/%2e%2e",
            "/%2f%2FAPI",
            // `/a/%2e%2e/b` as a route taken literally.
            "/a/%2e%2e/b/room",
            "/b/room",
        ] {
            assert_ne!(scope.verdict(path), Verdict::Outside, "{path}");
        }
        // Plain paths read one way only: nothing more is guarded.
        let plain = self::scope(&["/api/ws"], &[]);
        assert_eq!(plain.verdict("/api"), Verdict::Outside);
        assert_eq!(forms("/api/ws"), [["api", "ws"]]);
    }

    #[test]
    fn dot_segments_applied_before_decoding_are_read_too() {
        // A router that applies the literal `..` of the raw path, then
        // decodes segments, sends these to `/a b` and `/%2e`; the guard
        // read them as `/` (it decoded `%2e%2e` first). Found by the
        // `scope` fuzz target (`/%252e/%2e%2e//..`).
        let scope = scope(&["/a%20b", "/%252e"], &[]);
        for path in [
            "/a%20b/%2e%2e/..",
            "/%252e/%2e%2e//..",
            "/a%20b/%2E./x/../..",
        ] {
            assert_eq!(scope.verdict(path), Verdict::Ambiguous, "{path}");
        }
    }

    #[test]
    fn normalising_routers_are_covered_too() {
        // A router that applies `..` sends these to /api/ws.
        let scope = scope(&["/api/ws"], &[]);
        for path in ["/api/ws/x/..", "/x/../api/ws", "/api/./ws"] {
            assert_eq!(scope.verdict(path), Verdict::Ambiguous, "{path}");
        }
    }

    #[test]
    fn configured_paths_are_canonical_too() {
        let scope = scope(&["/api/ws/"], &["/a%20b"]);
        assert_eq!(scope.verdict("/api/ws"), Verdict::Guarded);
        assert_eq!(scope.verdict("/a b/c"), Verdict::Guarded);
        assert_eq!(scope.verdict("/a%20b/c"), Verdict::Guarded);
    }

    #[test]
    #[should_panic(expected = "must start with '/'")]
    fn relative_paths_are_refused() {
        Scope::default().add_exact("api/ws");
    }
}
