//! Audiences: which guarded socket a ticket is for (the guide is on
//! [`Audience`], at the crate root).

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::{LazyLock, Mutex, PoisonError};

/// The name of a guarded socket that tickets can be bound to.
///
/// One store can serve several guarded routes: the page's `/api/ws` and an
/// admin console's `/api/admin/ws`, say. Without more, a ticket minted for
/// the one opens the other. An [`Audience`] closes that: the mint route
/// binds each ticket to one ([`MintService::audience`](crate::MintService::audience)),
/// and a layer with an audience ([`WsTicketLayer::audience`](crate::WsTicketLayer::audience))
/// admits only tickets bound to the same one. A layer without an audience
/// refuses tickets that carry one, so a page ticket cannot open a route
/// that forgot its setting either.
///
/// A ticket presented to the wrong route is refused (401, audit reason
/// `wrong-audience`) and **burned**: the store checks the audience after it
/// has taken the ticket out, so the ticket is gone whatever the outcome.
///
/// ```
/// use tower_ws_ticket::{Audience, MemoryStore, TicketError};
///
/// let store = MemoryStore::<u64>::new();
/// let admin = Audience::new("admin");
///
/// let ticket = store.mint_with_audience(7, &admin).unwrap();
/// // Presented where no audience (or another one) is expected: refused, and
/// // gone.
/// assert!(matches!(
///     store.consume(ticket.expose_secret()),
///     Err(TicketError::WrongAudience(_))
/// ));
/// assert!(store.consume_with_audience(ticket.expose_secret(), &admin).is_err());
///
/// let ticket = store.mint_with_audience(7, &admin).unwrap();
/// let redeemed = store.consume_with_audience(ticket.expose_secret(), &admin).unwrap();
/// assert_eq!(redeemed.identity, 7);
/// ```
///
/// Two audiences are equal when their names are. Each distinct name is
/// registered once per process and compared as a small number from then
/// on: equality is exact, costs one integer comparison, and takes no
/// time that depends on the names. Audiences are meant to be a handful of
/// fixed names, one per guarded route (`"page"`, `"admin"`): every
/// distinct name ever built stays registered, a few bytes each, for the
/// life of the process, so don't build one per user or per request. Build
/// each once, at start-up (`new` takes a process-wide lock), and clone it
/// where it is needed: a clone copies two words.
///
/// The name never leaves the server: no response, error message or audit
/// event carries it, and the Redis store keeps only a digest of it.
///
/// ```
/// use tower_ws_ticket::Audience;
///
/// let admin = Audience::new("admin");
/// assert_eq!(admin, Audience::from("admin"));
/// assert_ne!(admin, Audience::new("page"));
/// assert_eq!(admin.name(), "admin");
/// ```
#[derive(Clone)]
pub struct Audience {
    id: NonZeroU32,
    name: &'static str,
}

/// Every name registered so far, with its number.
static REGISTRY: LazyLock<Mutex<HashMap<&'static str, NonZeroU32>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl Audience {
    /// The audience called `name`. Any text is a name, the empty one
    /// included; names compare exactly (case and spaces count).
    ///
    /// # Panics
    ///
    /// When more than four billion distinct names have been registered in
    /// this process.
    pub fn new(name: impl AsRef<str>) -> Self {
        let name = name.as_ref();
        // The registry holds plain data and every update leaves it
        // consistent, so a panic elsewhere while it was locked spoils
        // nothing.
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((&name, &id)) = registry.get_key_value(name) {
            return Self { id, name };
        }
        let id = u32::try_from(registry.len() + 1)
            .ok()
            .and_then(NonZeroU32::new)
            .expect("fewer than four billion audience names");
        let name: &'static str = Box::leak(name.into());
        registry.insert(name, id);
        Self { id, name }
    }

    /// The audience's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The number this process registered the name under: equal numbers,
    /// equal names. For stores that keep an audience in this process.
    pub(crate) fn id(&self) -> NonZeroU32 {
        self.id
    }
}

impl PartialEq for Audience {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Audience {}

impl Hash for Audience {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl fmt::Debug for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Audience").field(&self.name).finish()
    }
}

impl From<&str> for Audience {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for Audience {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

impl From<&String> for Audience {
    fn from(name: &String) -> Self {
        Self::new(name)
    }
}

impl From<&Audience> for Audience {
    fn from(audience: &Audience) -> Self {
        audience.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::thread;

    use super::*;

    #[test]
    fn equal_names_are_equal_audiences() {
        let a = Audience::new("tests-equal");
        let b = Audience::from(String::from("tests-equal"));
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        // One name, one registered copy.
        assert!(std::ptr::eq(a.name(), b.name()));
        let set: HashSet<Audience> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn names_compare_exactly() {
        let names = ["tests-x", "tests-X", "tests-x ", " tests-x", "", "tests-é"];
        let audiences: Vec<Audience> = names.iter().map(Audience::new).collect();
        for (i, a) in audiences.iter().enumerate() {
            assert_eq!(a.name(), names[i]);
            for (j, b) in audiences.iter().enumerate() {
                assert_eq!(a == b, i == j, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn threads_registering_one_name_agree() {
        let ids: Vec<NonZeroU32> = thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Audience::new("tests-raced").id()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    }

    #[test]
    fn debug_shows_the_name() {
        assert_eq!(
            format!("{:?}", Audience::new("tests-debug")),
            "Audience(\"tests-debug\")"
        );
    }
}
