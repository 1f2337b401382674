//! `guard_path` / `guard_prefix` scope: canonical paths are idempotent,
//! and no router model reads a path `Outside` puts under a guarded path.
//! See `check_scope`.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tower_ws_ticket_fuzz::{PATH_WORDS, check_scope, text};

#[derive(Debug)]
struct Input {
    exact: Vec<String>,
    prefixes: Vec<String>,
    /// A request path, as a URI carries it.
    path: String,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut configured = || -> Result<Vec<String>> {
            (0..u.int_in_range(0..=2)?)
                .map(|_| Ok(format!("/{}", text(u, PATH_WORDS, 4)?)))
                .collect()
        };
        let (exact, prefixes) = (configured()?, configured()?);
        // Often a path under a configured one, the way an attack starts.
        let all: Vec<&String> = exact.iter().chain(&prefixes).collect();
        let base = if !all.is_empty() && u.arbitrary()? {
            u.choose(&all)?.as_str()
        } else {
            ""
        };
        let path = format!("{base}/{}", text(u, PATH_WORDS, 8)?);
        let uri: http::Uri = path
            .parse()
            .map_err(|_| arbitrary::Error::IncorrectFormat)?;
        let path = uri.path().to_owned();
        Ok(Self {
            exact,
            prefixes,
            path,
        })
    }
}

fuzz_target!(|input: Input| {
    let exact: Vec<&str> = input.exact.iter().map(String::as_str).collect();
    let prefixes: Vec<&str> = input.prefixes.iter().map(String::as_str).collect();
    check_scope(&exact, &prefixes, &input.path);
});
