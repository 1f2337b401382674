use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::AtomicUsize;
use std::sync::{Barrier, Mutex as StdMutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use super::*;
use crate::ManualClock;
use crate::revoke::RevokedFuture;

fn key(name: &str) -> String {
    name.to_owned()
}

fn registry() -> (Revocations<String>, ManualClock) {
    let clock = ManualClock::new();
    let registry = Revocations::builder()
        .window(Duration::from_secs(30))
        .clock(clock.clone())
        .build();
    (registry, clock)
}

fn seconds_ago(seconds: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(seconds)
}

fn in_seconds(seconds: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(seconds)
}

/// A waker that counts its wakes: the future runs on no executor at all.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn poll(future: &mut RevokedFuture, waker: &Arc<CountingWaker>) -> Poll<()> {
    let waker = Waker::from(Arc::clone(waker));
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}

#[test]
fn handles_of_one_key_are_signalled_and_no_others() {
    let (registry, _) = registry();
    let alice_1 = registry.watch(key("alice"));
    let alice_2 = registry.watch(key("alice"));
    let bob = registry.watch(key("bob"));
    assert_eq!(registry.live(), 3);

    assert_eq!(registry.revoke(&key("alice")), 2);
    assert!(alice_1.is_revoked());
    assert!(alice_2.is_revoked());
    assert!(!bob.is_revoked());
    // Signalled handles have left the registry: a second revoke finds none.
    assert_eq!(registry.live(), 1);
    assert_eq!(registry.revoke(&key("alice")), 0);
    assert_eq!(registry.revoke(&key("carol")), 0);
    assert!(!bob.is_revoked());
    assert_eq!(registry.revoke(&key("bob")), 1);
    assert!(bob.is_revoked());
}

#[test]
fn revoke_counts_live_handles_only() {
    let (registry, _) = registry();
    let kept: Vec<_> = (0..3).map(|_| registry.watch(key("alice"))).collect();
    drop(registry.watch(key("alice")));
    let clone = kept[0].clone();
    assert_eq!(registry.live(), 3);
    // A clone is the same socket, counted once.
    assert_eq!(registry.revoke(&key("alice")), 3);
    assert!(clone.is_revoked());
}

#[test]
fn dropped_handles_leave_the_registry() {
    let (registry, _) = registry();
    let handles: Vec<_> = (0..100)
        .map(|i| registry.watch(format!("user-{}", i % 10)))
        .collect();
    assert_eq!(registry.live(), 100);
    assert_eq!(registry.keys(), 10);

    // A clone keeps the socket registered; so does a future made from it.
    let clone = handles[0].clone();
    let future = handles[1].revoked();
    drop(handles);
    assert_eq!(registry.live(), 2);
    assert_eq!(registry.keys(), 2);
    drop(clone);
    drop(future);
    assert_eq!(registry.live(), 0);
    assert_eq!(registry.keys(), 0, "no entry is left behind for a key");

    let unkeyed = registry.unkeyed(None);
    assert_eq!(registry.live(), 1);
    drop(unkeyed);
    assert_eq!(registry.live(), 0);
}

#[test]
fn a_handle_outliving_its_registry_is_harmless() {
    let (registry, _) = registry();
    let handle = registry.watch(key("alice"));
    drop(registry);
    assert!(!handle.is_revoked());
    drop(handle);
}

#[test]
fn revoked_future_completes_without_any_runtime() {
    let (registry, _) = registry();
    let handle = registry.watch(key("alice"));
    let waker = Arc::new(CountingWaker::default());
    let mut first = handle.revoked();
    let mut second = handle.clone().revoked();
    assert!(poll(&mut first, &waker).is_pending());
    assert!(poll(&mut second, &waker).is_pending());
    // Polling again while nothing happened registers nothing new.
    assert!(poll(&mut first, &waker).is_pending());

    // Cancel safety: a future dropped half-way leaves nothing behind.
    let mut dropped = handle.revoked();
    assert!(poll(&mut dropped, &waker).is_pending());
    drop(dropped);

    assert_eq!(registry.revoke(&key("alice")), 1);
    assert!(waker.wakes() >= 2, "every waiting future is woken");
    assert_eq!(poll(&mut first, &waker), Poll::Ready(()));
    assert_eq!(poll(&mut second, &waker), Poll::Ready(()));
    // A future made after the revocation is ready at once.
    assert_eq!(poll(&mut handle.revoked(), &waker), Poll::Ready(()));
}

#[test]
fn tickets_minted_before_a_revoke_are_refused_for_the_window() {
    let (registry, clock) = registry();
    assert_eq!(registry.window(), Duration::from_secs(31));
    registry.revoke(&key("alice"));

    assert_eq!(
        registry.admit(key("alice"), seconds_ago(1), None).err(),
        Some(Refusal::Revoked)
    );
    // Other keys, and alice's newer tickets (she signed in again), pass.
    assert!(registry.admit(key("bob"), seconds_ago(1), None).is_ok());
    let newer = registry
        .admit(key("alice"), in_seconds(1), None)
        .expect("newer ticket");
    assert!(!newer.is_revoked());

    // To the end of the window, inclusive...
    clock.advance(registry.window());
    assert_eq!(
        registry.admit(key("alice"), seconds_ago(1), None).err(),
        Some(Refusal::Revoked)
    );
    // ...and no longer: every older ticket has expired by then, and the
    // record is gone.
    clock.advance(Duration::from_nanos(1));
    assert!(registry.admit(key("alice"), seconds_ago(1), None).is_ok());
    assert_eq!(registry.records(), 0);
}

#[test]
fn records_expire_and_memory_stays_bounded() {
    let (registry, clock) = registry();
    for i in 0..1_000 {
        registry.revoke(&format!("user-{i}"));
    }
    assert_eq!(registry.records(), 1_000);
    assert_eq!(registry.keys(), 1_000);
    clock.advance(registry.window() + Duration::from_nanos(1));
    // Reclaimed as the registry is used, from the front, without a scan.
    drop(registry.watch(key("someone")));
    assert_eq!(registry.records(), 0);
    assert_eq!(registry.keys(), 0);
    assert_eq!(registry.live(), 0);
}

#[test]
fn a_second_revoke_extends_the_record() {
    let (registry, clock) = registry();
    registry.revoke(&key("alice"));
    clock.advance(Duration::from_secs(20));
    registry.revoke(&key("alice"));
    clock.advance(Duration::from_secs(20));
    // 40 s after the first, 20 s after the second: still refused.
    assert_eq!(
        registry.admit(key("alice"), seconds_ago(1), None).err(),
        Some(Refusal::Revoked)
    );
    clock.advance(Duration::from_secs(12));
    assert!(registry.admit(key("alice"), seconds_ago(1), None).is_ok());
}

#[test]
fn revoke_all_signals_every_socket_and_refuses_every_older_ticket() {
    let (registry, clock) = registry();
    let alice = registry.admit(key("alice"), seconds_ago(2), None).unwrap();
    let bob = registry.watch(key("bob"));
    let child = registry.unkeyed(None);
    assert_eq!(registry.revoke_all(), 3);
    assert!(alice.is_revoked() && bob.is_revoked() && child.is_revoked());
    assert_eq!(registry.live(), 0);

    for who in ["alice", "bob", "carol"] {
        assert_eq!(
            registry.admit(key(who), seconds_ago(1), None).err(),
            Some(Refusal::Revoked),
            "{who}"
        );
    }
    assert!(registry.admit(key("carol"), in_seconds(1), None).is_ok());
    // Sockets without a ticket are admitted again at once (their
    // credential stays valid) and get a fresh handle.
    assert!(!registry.unkeyed(None).is_revoked());
    clock.advance(registry.window() + Duration::from_nanos(1));
    assert!(registry.admit(key("alice"), seconds_ago(1), None).is_ok());
}

#[test]
fn revoke_does_not_reach_sockets_without_a_ticket() {
    let (registry, _) = registry();
    let child = registry.unkeyed(None);
    let _alice = registry.watch(key("alice"));
    assert_eq!(registry.revoke(&key("alice")), 1);
    assert!(!child.is_revoked());
}

#[test]
fn a_revocation_heard_from_elsewhere_spares_newer_sockets() {
    let (registry, _) = registry();
    let old = registry.admit(key("alice"), seconds_ago(5), None).unwrap();
    let new = registry.admit(key("alice"), in_seconds(5), None).unwrap();
    let at = wall_now();
    assert_eq!(registry.inner.revoke_key(key("alice"), at, Some(at)), 1);
    assert!(old.is_revoked());
    assert!(!new.is_revoked());
    assert_eq!(registry.live(), 1);
    assert_eq!(
        registry.admit(key("alice"), seconds_ago(1), None).err(),
        Some(Refusal::Revoked)
    );

    let other = registry.admit(key("bob"), seconds_ago(5), None).unwrap();
    let at = wall_now();
    assert_eq!(registry.inner.revoke_everything(at, Some(at)), 1);
    assert!(other.is_revoked());
    assert!(!new.is_revoked());
}

#[test]
fn a_registry_that_cannot_hear_other_replicas_refuses_tickets() {
    struct Down;
    impl Bridge<String> for Down {
        fn publish(&self, _: Option<&String>, _: u64) {}
        fn is_connected(&self) -> bool {
            false
        }
    }
    let registry = Revocations::builder().build_with(Some(Box::new(Down)));
    assert!(!registry.is_available());
    assert_eq!(
        registry.admit(key("alice"), seconds_ago(1), None).err(),
        Some(Refusal::Unavailable)
    );
    // Local revocations still work.
    let socket = registry.watch(key("alice"));
    assert_eq!(registry.revoke(&key("alice")), 1);
    assert!(socket.is_revoked());
}

#[test]
fn revocations_are_handed_to_the_bridge() {
    #[derive(Default)]
    struct Recorder(StdMutex<Vec<(Option<String>, u64)>>);
    impl Bridge<String> for Arc<Recorder> {
        fn publish(&self, key: Option<&String>, at: u64) {
            self.0.lock().unwrap().push((key.cloned(), at));
        }
        fn is_connected(&self) -> bool {
            true
        }
    }
    let recorder = Arc::new(Recorder::default());
    let registry = Revocations::builder().build_with(Some(Box::new(Arc::clone(&recorder))));
    registry.revoke(&key("alice"));
    registry.revoke_all();
    let sent = recorder.0.lock().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].0.as_deref(), Some("alice"));
    assert_eq!(sent[1].0, None);
    assert!(sent[0].1 > 0 && sent[0].1 <= sent[1].1);
}

#[test]
fn the_layer_raises_the_window_to_its_store_ttl() {
    let (registry, _) = registry();
    registry.cover_ttl(Duration::from_secs(10));
    assert_eq!(registry.window(), Duration::from_secs(31));
    registry.cover_ttl(Duration::from_secs(120));
    assert_eq!(registry.window(), Duration::from_secs(121));
}

/// Eight threads admit sockets whose tickets were minted before the
/// revocation while another thread revokes their key: every admission is
/// either refused or signalled, never admitted and missed.
#[test]
fn revoke_racing_admissions_leaves_no_handle_unsignalled() {
    const THREADS: usize = 8;
    const ADMITS: usize = 2_000;
    let mut raced = 0;
    for round in 0..20 {
        let (registry, _) = registry();
        let minted = seconds_ago(1);
        let target = format!("victim-{round}");
        let barrier = Arc::new(Barrier::new(THREADS + 1));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let registry = registry.clone();
                let barrier = Arc::clone(&barrier);
                let target = target.clone();
                thread::spawn(move || {
                    barrier.wait();
                    let mut admitted = Vec::new();
                    let mut refused = 0;
                    for _ in 0..ADMITS {
                        match registry.admit(target.clone(), minted, None) {
                            Ok(handle) => admitted.push(handle),
                            Err(Refusal::Revoked) => refused += 1,
                            Err(Refusal::Unavailable) => unreachable!("no bridge"),
                        }
                    }
                    (admitted, refused)
                })
            })
            .collect();
        barrier.wait();
        // Let the workers get going, then revoke in the middle of them.
        while registry.live() < THREADS {
            std::hint::spin_loop();
        }
        let signalled = registry.revoke(&target);
        let mut admitted = 0;
        let mut refused = 0;
        for worker in workers {
            let (handles, refusals) = worker.join().expect("worker");
            for handle in &handles {
                assert!(handle.is_revoked(), "round {round}: a handle was missed");
            }
            admitted += handles.len();
            refused += refusals;
        }
        assert_eq!(admitted, signalled, "round {round}");
        assert_eq!(admitted + refused, THREADS * ADMITS);
        assert_eq!(registry.live(), 0);
        if admitted > 0 && refused > 0 {
            raced += 1;
        }
    }
    assert!(raced > 0, "the revoke never landed among the admissions");
}

#[test]
fn debug_shows_counts_not_keys() {
    let (registry, _) = registry();
    let handle = registry.watch(key("alice-secret-session"));
    let shown = format!("{registry:?} {handle:?} {:?}", handle.revoked());
    assert!(!shown.contains("alice"), "{shown}");
    assert!(shown.contains("live: 1"), "{shown}");
}

#[test]
fn revoked_future_works_in_a_runtime_select() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (registry, _) = registry();
        let handle = registry.watch(key("alice"));
        let turns = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&turns);
        let waiter = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = handle.revoked() => return,
                    () = tokio::time::sleep(Duration::from_millis(1)) => {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        // The select has gone round (the handle's future was polled, and
        // dropped, by the other branch winning) before the revocation.
        while turns.load(Ordering::Relaxed) < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(registry.revoke(&key("alice")), 1);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("task");
        assert_eq!(registry.live(), 0);
    });
}

#[test]
fn revoked_future_can_be_pinned_once_outside_a_loop() {
    // `revoked()` is Unpin: it can be pinned once outside a loop.
    let (registry, _) = registry();
    let handle = registry.watch(key("alice"));
    let mut future = pin!(handle.revoked());
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    assert!(
        future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    registry.revoke(&key("alice"));
    assert!(
        future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
    );
}
