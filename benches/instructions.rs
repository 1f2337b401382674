//! Instructions per request under callgrind, and the gate CI runs on them.
//!
//! Timings on a shared machine move 10-30% between identical runs;
//! instruction counts do not, so they are what CI holds the hot paths to.
//! Each case below is run in a child process under
//! `valgrind --tool=callgrind`, which counts only inside [`counted`]: the
//! requests and tickets are built before, outside the count. The count per
//! request is the difference between a run of [`SHORT`] and one of [`LONG`]
//! requests, divided by the difference: what the first request pays once
//! (a lazy initialisation, a thread started) cancels out. Each length runs
//! [`RUNS`] times and the fewest instructions count (see [`fewest`]).
//!
//! ```text
//! cargo +1.95.0 bench --bench instructions                       # the gate
//! cargo +1.95.0 bench --bench instructions -- --write-baseline   # new baseline
//! ```
//!
//! The gate compares every case with `benches/instructions.baseline` and
//! fails when one grows more than 5% over it. Instruction counts depend on
//! the compiler, so the baseline names the toolchain it was taken with and
//! the gate refuses to compare counts of another one (`.ci/run` installs
//! the baseline's toolchain). They depend on the CPU's features too (the
//! RNG and the hash map pick their code at run time): take a new baseline
//! on a machine of another kind. It also prints the layer's targets (its
//! toll on a request that is not an upgrade, and a ticket upgrade against a
//! bare request plus `consume`); BENCHMARKS.md records what they reach.
//!
//! Needs valgrind; without it the run fails and says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use http::Request;
use tower::{Layer, Service};
use tower_ws_ticket::{MemoryStore, Revocations, WsTicketLayer};
use tower_ws_ticket_demo::testkit::bench::{
    header_upgrade_request, plain_request, poll_once, ready_inner, upgrade_request,
};

/// Requests counted in the short and the long run of each case.
const SHORT: u64 = 2_000;
const LONG: u64 = 4_000;
/// Runs of each length per case; the fewest instructions count.
const RUNS: usize = 3;
/// Growth over the baseline that fails the gate, in percent.
const ALLOWED_GROWTH: f64 = 5.0;
/// What callgrind counts: this function and everything it calls.
const COUNTED: &str = "*instructions::counted*";

/// The cases, in the order they are printed.
const CASES: [(&str, &str); 9] = [
    (
        "plain/bare",
        "a GET that is not an upgrade, straight to the inner service",
    ),
    ("plain/layer", "the same GET through the layer"),
    (
        "upgrade/bare",
        "an upgrade with a ticket in the query, straight to the inner service",
    ),
    (
        "upgrade/query",
        "the same upgrade through the layer (memory store)",
    ),
    (
        "upgrade/header",
        "the ticket in Sec-WebSocket-Protocol instead",
    ),
    (
        "upgrade/revocation+deadline",
        "the query upgrade, the socket registered for revocation and given a maximum age",
    ),
    ("store/mint", "MemoryStore::mint"),
    (
        "store/consume",
        "MemoryStore::consume of the ticket just minted",
    ),
    (
        "store/consume-oldest",
        "MemoryStore::consume of the oldest of 10,000 live tickets, oldest first",
    ),
];

/// Live tickets the `store/consume-oldest` case starts with.
const LIVE: u64 = 10_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--child") {
        let (Some(case), Some(count)) = (args.get(at + 1), args.get(at + 2)) else {
            eprintln!("--child needs a case and a count");
            return ExitCode::FAILURE;
        };
        let Ok(count) = count.parse() else {
            eprintln!("--child: {count:?} is not a count");
            return ExitCode::FAILURE;
        };
        return run_case(case, count);
    }
    match gate(args.iter().any(|arg| arg == "--write-baseline")) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("instruction gate: {message}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// The cases, run in the child under callgrind
// ---------------------------------------------------------------------------

/// The one function callgrind counts in; never inlined, so that it has a
/// name to toggle on.
#[inline(never)]
fn counted<I, O>(work: &mut impl FnMut(I) -> O, input: I) -> O {
    work(input)
}

/// Runs `count` inputs through `work`, each counted, after a few uncounted
/// rounds that warm the allocator and the maps. Each input is made just
/// before its count, as a browser mints its ticket just before it
/// connects: the store holds no other live ticket meanwhile.
fn run<I, O>(count: u64, mut make: impl FnMut() -> I, mut work: impl FnMut(I) -> O) {
    for _ in 0..100 {
        black_box(work(make()));
    }
    for _ in 0..count {
        let input = make();
        black_box(counted(&mut work, input));
    }
}

/// A store whose maps have already grown to hold every ticket a run
/// mints, so that no case counts a map's growth, and with no cap in the
/// way.
fn warm_store() -> MemoryStore<u64> {
    let store = MemoryStore::<u64>::builder()
        .max_outstanding(usize::MAX)
        .build();
    let tickets: Vec<_> = (0..4 * LONG)
        .map(|_| store.mint(7).expect("mint"))
        .collect();
    for ticket in &tickets {
        store.consume(ticket.expose_secret()).expect("consume");
    }
    store
}

/// Calls `service` and polls it once; the response is dropped inside the
/// count (what a socket's handle costs when it goes is part of the
/// request), its status returned.
fn status<S>(service: &mut S, req: Request<()>) -> u16
where
    S: Service<Request<()>, Response = http::Response<()>>,
    S::Error: std::fmt::Debug,
{
    poll_once(service.call(req))
        .expect("infallible")
        .status()
        .as_u16()
}

fn run_case(case: &str, count: u64) -> ExitCode {
    let store = warm_store();
    let ticket_upgrade = || upgrade_request(store.mint(7).expect("mint").expose_secret());
    let admitted = |status: u16| assert_eq!(status, 200, "{case}: the upgrade was refused");
    match case {
        "plain/bare" => {
            let mut bare = ready_inner();
            run(count, plain_request, |req| status(&mut bare, req));
        }
        "plain/layer" => {
            let mut layered = WsTicketLayer::new(store.clone()).layer(ready_inner());
            run(count, plain_request, |req| status(&mut layered, req));
        }
        "upgrade/bare" => {
            let mut bare = ready_inner();
            run(count, ticket_upgrade, |req| status(&mut bare, req));
        }
        "upgrade/query" => {
            let mut layered = WsTicketLayer::new(store.clone()).layer(ready_inner());
            run(count, ticket_upgrade, |req| {
                admitted(status(&mut layered, req))
            });
        }
        "upgrade/header" => {
            let mut layered = WsTicketLayer::new(store.clone()).layer(ready_inner());
            let make = || header_upgrade_request(store.mint(7).expect("mint").expose_secret());
            run(count, make, |req| admitted(status(&mut layered, req)));
        }
        "upgrade/revocation+deadline" => {
            let mut layered = WsTicketLayer::new(store.clone())
                .revocations(Revocations::<u64>::new(), |user: &u64| *user)
                .max_socket_age(Duration::from_secs(3600))
                .layer(ready_inner());
            run(count, ticket_upgrade, |req| {
                admitted(status(&mut layered, req))
            });
        }
        "store/mint" => {
            run(count, || 7, |identity| store.mint(identity).expect("mint"));
        }
        "store/consume" => {
            let make = || store.mint(7).expect("mint").expose_secret().to_owned();
            run(count, make, |ticket: String| {
                store.consume(&ticket).expect("consume").identity
            });
        }
        "store/consume-oldest" => {
            // Minted before the count, consumed in mint order: each is
            // looked for behind every ticket minted after it.
            let mut live = (0..LIVE)
                .map(|_| store.mint(7).expect("mint").expose_secret().to_owned())
                .collect::<Vec<_>>()
                .into_iter();
            let make = || live.next().expect("fewer requests than live tickets");
            run(count, make, |ticket: String| {
                store.consume(&ticket).expect("consume").identity
            });
        }
        other => {
            eprintln!("no case named {other:?}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------
// The gate: the driver runs every case under callgrind and compares
// ---------------------------------------------------------------------------

fn baseline_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/instructions.baseline")
}

fn gate(write_baseline: bool) -> Result<ExitCode, String> {
    let toolchain = rustc_version()?;
    let scratch = std::env::temp_dir().join(format!("ws-ticket-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let mut counts = BTreeMap::new();
    for (case, _) in CASES {
        let short = fewest(&scratch, case, SHORT)?;
        let long = fewest(&scratch, case, LONG)?;
        // Integer counts; the difference of two runs is exact, its share
        // per request kept to a tenth.
        let per_request = long.saturating_sub(short) as f64 / (LONG - SHORT) as f64;
        counts.insert(case, (per_request * 10.0).round() / 10.0);
    }
    let _ = std::fs::remove_dir_all(&scratch);

    if write_baseline {
        write_baseline_file(&toolchain, &counts)?;
        print_table(&counts, None);
        println!("\nwrote {}", baseline_path().display());
        return Ok(ExitCode::SUCCESS);
    }

    let (base_toolchain, base) = read_baseline()?;
    if base_toolchain != toolchain {
        return Err(format!(
            "the baseline was taken with `{base_toolchain}`, this build is `{toolchain}`: \
             instruction counts of two compilers do not compare. Run the gate with the \
             baseline's toolchain (`cargo +<version> bench --bench instructions`) or take a \
             new baseline with `-- --write-baseline`"
        ));
    }
    let grown = print_table(&counts, Some(&base));
    if grown.is_empty() {
        println!("\ninstruction gate: every case within {ALLOWED_GROWTH}% of the baseline");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "\ninstruction gate FAILED: {} grew more than {ALLOWED_GROWTH}% over {} (if the \
             growth is meant, record why in BENCHMARKS.md and take a new baseline with \
             `cargo bench --bench instructions -- --write-baseline`)",
            grown.join(", "),
            baseline_path().display()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// `rustc --version` of the compiler that cargo used: rustup's proxy,
/// called from within `cargo +toolchain`, resolves to the same one.
fn rustc_version() -> Result<String, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(&rustc)
        .arg("--version")
        .output()
        .map_err(|e| format!("running `{rustc} --version`: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The fewest instructions of [`RUNS`] runs of `case` with `count`
/// requests. Now and then a run pays for something the requests did not
/// ask for (a `store/mint` run was once 40% over its usual count, one run
/// in three): such costs only ever add, so the fewest is the count of the
/// requests themselves, and the gate does not fail at random.
fn fewest(scratch: &Path, case: &str, count: u64) -> Result<u64, String> {
    let mut fewest = u64::MAX;
    for _ in 0..RUNS {
        fewest = fewest.min(callgrind(scratch, case, count)?);
    }
    Ok(fewest)
}

/// Runs `case` with `count` requests under callgrind; the instructions
/// counted inside [`counted`].
fn callgrind(scratch: &Path, case: &str, count: u64) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this executable: {e}"))?;
    let out_file = scratch.join(format!("{}-{count}.out", case.replace('/', "_")));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect={COUNTED}"))
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(&exe)
        .args(["--child", case, &count.to_string()])
        .output()
        .map_err(|e| {
            format!("cannot run valgrind ({e}): install it (Debian: apt-get install valgrind)")
        })?;
    if !output.status.success() {
        return Err(format!(
            "case {case} under callgrind failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = std::fs::read_to_string(&out_file)
        .map_err(|e| format!("reading {}: {e}", out_file.display()))?;
    // `totals:` (or, in older files, `summary:`) holds the events counted.
    text.lines()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))
        })
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .filter(|&total| total > 0)
        .ok_or_else(|| {
            format!(
                "case {case}: callgrind counted nothing in {COUNTED} (was `counted` inlined or \
                 renamed?)"
            )
        })
}

/// Prints every case, with its baseline and change when there is one;
/// returns the cases that grew past the allowance.
fn print_table(counts: &BTreeMap<&str, f64>, base: Option<&BTreeMap<String, f64>>) -> Vec<String> {
    let mut grown = Vec::new();
    println!(
        "{:<30} {:>10} {:>10} {:>8}",
        "case", "now", "baseline", "change"
    );
    for (case, what) in CASES {
        let now = counts[case];
        match base.and_then(|base| base.get(case)) {
            Some(&then) => {
                let change = (now - then) / then * 100.0;
                let flag = if change > ALLOWED_GROWTH {
                    grown.push(case.to_owned());
                    "  << over"
                } else {
                    ""
                };
                println!("{case:<30} {now:>10.1} {then:>10.1} {change:>+7.1}%{flag}");
            }
            None if base.is_some() => {
                grown.push(format!("{case} (not in the baseline)"));
                println!(
                    "{case:<30} {now:>10.1} {:>10} {:>8}  << no baseline",
                    "-", "-"
                );
            }
            None => println!("{case:<30} {now:>10.1}"),
        }
        println!("    {what}");
    }

    let toll = counts["plain/layer"] - counts["plain/bare"];
    let layer_part = counts["upgrade/query"];
    let floor = counts["upgrade/bare"] + counts["store/consume"];
    println!("\ntargets:");
    println!(
        "  the layer's toll on a request that is not an upgrade: {toll:.1} (target at most 300: {})",
        met(toll <= 300.0)
    );
    println!(
        "  a ticket upgrade through the layer / (the bare upgrade + consume): {layer_part:.1} / \
         {floor:.1} = {:.2}x (target at most 2x: {})",
        layer_part / floor,
        met(layer_part <= 2.0 * floor)
    );
    grown
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "NOT met" }
}

fn write_baseline_file(toolchain: &str, counts: &BTreeMap<&str, f64>) -> Result<(), String> {
    let mut text = String::from(
        "# Instructions per request under callgrind, from `cargo bench --bench instructions\n\
         # -- --write-baseline`. The gate (`cargo bench --bench instructions`, in .ci/run)\n\
         # fails when a case grows more than 5% over these. See benches/instructions.rs.\n",
    );
    let _ = writeln!(text, "toolchain = {toolchain}");
    for (case, _) in CASES {
        let _ = writeln!(text, "{case} = {:.1}", counts[case]);
    }
    std::fs::write(baseline_path(), text)
        .map_err(|e| format!("writing {}: {e}", baseline_path().display()))
}

fn read_baseline() -> Result<(String, BTreeMap<String, f64>), String> {
    let path = baseline_path();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "reading {}: {e} (take one with `-- --write-baseline`)",
            path.display()
        )
    })?;
    let mut toolchain = None;
    let mut counts = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(" = ") else {
            return Err(format!(
                "{}:{}: expected `name = value`",
                path.display(),
                number + 1
            ));
        };
        if key == "toolchain" {
            toolchain = Some(value.to_owned());
        } else {
            let value = value.parse().map_err(|_| {
                format!(
                    "{}:{}: {value:?} is not a count",
                    path.display(),
                    number + 1
                )
            })?;
            counts.insert(key.to_owned(), value);
        }
    }
    let toolchain =
        toolchain.ok_or_else(|| format!("{}: no `toolchain = ` line", path.display()))?;
    Ok((toolchain, counts))
}
