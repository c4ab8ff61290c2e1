//! The learnt set: per kind, per scope (a directory, an address family), the names seen, or any
//! name once the scope held more than its kind allows (`/var/lib/mysql/*`, `inet:*`).
//!
//! In a profile each kind is a sorted list of strings, a scope and a name joined again
//! (`/etc/passwd`, `/tmp/*`, `inet:3306`, `inet stream`). Lookups borrow the key, so judging a
//! resource allocates nothing. Held in hash tables, not ordered ones: a lookup is on the path of
//! every call that names a file, and thousands of long paths sharing a prefix made an ordered
//! lookup a dozen string comparisons; the order a profile writes is made only when it is written.
//! The hash is std's keyed one, since every name came from a container.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::kind::ResourceKind;

/// Names in one profile's set at most (a save or a merge stops adding past it): a container that
/// makes up names faster than the rules generalise them cannot grow its monitor without bound.
pub const MAX_RESOURCES: usize = 16_384;

/// "Any name" in a scope that widened.
pub const ANY: &str = "*";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Scope {
    any: bool,
    names: HashSet<String>,
}

/// What learning added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learnt {
    /// Already in the set.
    Known,
    /// A new name.
    Added,
    /// A new name that made its scope widen to any name.
    Widened,
    /// The set is full; nothing added.
    Full,
}

/// Resources learnt, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceSet {
    kinds: [HashMap<String, Scope>; ResourceKind::ALL.len()],
    len: usize,
}

/// `key` as (scope, name) for `kind`: a path at its last `/`, an address at its first `:` (a
/// family has none; a unix socket's path may).
fn split(kind: ResourceKind, key: &str) -> (&str, &str) {
    let at = match kind.separator() {
        Some('/') => key.rfind('/'),
        Some(sep) => key.find(sep),
        None => None,
    };
    match at {
        Some(i) => (&key[..i], &key[i + 1..]),
        None => ("", key),
    }
}

fn join(kind: ResourceKind, scope: &str, name: &str) -> String {
    match kind.separator() {
        Some(sep) if !(scope.is_empty() && sep == ':') => format!("{scope}{sep}{name}"),
        _ => name.to_string(),
    }
}

impl ResourceSet {
    /// Names (widened scopes count one) in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `key` (a generalised resource of `kind`) was learnt, or its scope widened.
    pub fn contains(&self, kind: ResourceKind, key: &str) -> bool {
        let (scope, name) = split(kind, key);
        self.kinds[kind.index()]
            .get(scope)
            .is_some_and(|s| s.any || s.names.contains(name))
    }

    /// Adds `key`; its scope widens to any name once it holds more than the kind allows.
    pub fn learn(&mut self, kind: ResourceKind, key: &str) -> Learnt {
        if self.contains(kind, key) {
            return Learnt::Known;
        }
        if self.len >= MAX_RESOURCES {
            return Learnt::Full;
        }
        let (scope, name) = split(kind, key);
        let entry = self.kinds[kind.index()]
            .entry(scope.to_string())
            .or_default();
        if name == ANY {
            self.len -= entry.names.len();
            entry.names.clear();
            entry.any = true;
            self.len += 1;
            return Learnt::Widened;
        }
        entry.names.insert(name.to_string());
        self.len += 1;
        if kind.widen_after().is_some_and(|n| entry.names.len() > n) {
            self.len -= entry.names.len() - 1;
            entry.names.clear();
            entry.any = true;
            return Learnt::Widened;
        }
        Learnt::Added
    }

    /// Adds every resource of `other`.
    pub fn absorb(&mut self, other: &ResourceSet) {
        for kind in ResourceKind::ALL {
            for key in other.keys(kind) {
                self.learn(kind, &key);
            }
        }
    }

    /// The resources of `kind` as a profile writes them, sorted by scope, then name (a widened
    /// scope's `*` alone).
    pub fn keys(&self, kind: ResourceKind) -> impl Iterator<Item = String> + '_ {
        let mut scopes: Vec<_> = self.kinds[kind.index()].iter().collect();
        scopes.sort_unstable_by_key(|(scope, _)| *scope);
        scopes.into_iter().flat_map(move |(scope, s)| {
            let any = s.any.then(|| join(kind, scope, ANY));
            let mut names: Vec<_> = s.names.iter().collect();
            names.sort_unstable();
            any.into_iter()
                .chain(names.into_iter().map(move |n| join(kind, scope, n)))
        })
    }
}

impl Serialize for ResourceSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, Vec<String>> = ResourceKind::ALL
            .iter()
            .map(|&kind| (kind.name(), self.keys(kind).collect::<Vec<_>>()))
            .filter(|(_, keys)| !keys.is_empty())
            .collect();
        map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ResourceSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = BTreeMap::<ResourceKind, Vec<String>>::deserialize(deserializer)?;
        let total: usize = map.values().map(Vec::len).sum();
        if total > MAX_RESOURCES {
            return Err(D::Error::custom(format!(
                "{total} resources, more than the {MAX_RESOURCES} a profile may hold"
            )));
        }
        let mut set = ResourceSet::default();
        for (kind, keys) in map {
            for key in keys {
                if key.is_empty() || key.contains('\0') {
                    return Err(D::Error::custom(format!(
                        "{}: an empty name or one with a NUL byte",
                        kind.name()
                    )));
                }
                set.learn(kind, &key);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResourceKind::*;

    #[test]
    fn a_scope_widens_after_enough_names() {
        let mut s = ResourceSet::default();
        for i in 0..16 {
            assert_eq!(s.learn(Write, &format!("/tmp/f{i}x")), Learnt::Added);
        }
        assert!(!s.contains(Write, "/tmp/other"));
        assert!(!s.contains(Read, "/tmp/f1x"), "kinds are apart");
        assert_eq!(s.learn(Write, "/tmp/f16x"), Learnt::Widened);
        assert!(s.contains(Write, "/tmp/anything"));
        assert!(!s.contains(Write, "/tmp/sub/anything"), "one level only");
        assert!(!s.contains(Write, "/etc/passwd"));
        assert_eq!(s.len(), 1);
        assert_eq!(s.keys(Write).collect::<Vec<_>>(), ["/tmp/*"]);
    }

    #[test]
    fn programs_never_widen() {
        let mut s = ResourceSet::default();
        for i in 0..40 {
            s.learn(Exec, &format!("/bin/p{i}x"));
        }
        assert!(!s.contains(Exec, "/bin/nc"));
        assert_eq!(s.len(), 40);
    }

    #[test]
    fn addresses_split_at_the_port() {
        let mut s = ResourceSet::default();
        s.learn(Bind, "inet:3306");
        s.learn(Socket, "inet stream");
        assert!(s.contains(Bind, "inet:3306"));
        assert!(!s.contains(Bind, "inet:4444"));
        assert!(!s.contains(Bind, "inet6:3306"));
        assert!(s.contains(Socket, "inet stream"));
        assert!(!s.contains(Socket, "inet raw"));
        assert_eq!(s.keys(Bind).collect::<Vec<_>>(), ["inet:3306"]);
    }

    #[test]
    fn keys_come_sorted_whatever_the_order_learnt() {
        let mut s = ResourceSet::default();
        for key in ["/etc/b", "/srv/x", "/etc/a", "/a-b/z", "/a/z", "/etc/c"] {
            s.learn(Read, key);
        }
        assert_eq!(
            s.keys(Read).collect::<Vec<_>>(),
            ["/a/z", "/a-b/z", "/etc/a", "/etc/b", "/etc/c", "/srv/x"]
        );
    }

    #[test]
    fn the_set_is_bounded() {
        let mut s = ResourceSet::default();
        for i in 0..MAX_RESOURCES {
            s.learn(Exec, &format!("/d/p{i}"));
        }
        assert_eq!(s.learn(Exec, "/d/one-more"), Learnt::Full);
        assert_eq!(s.len(), MAX_RESOURCES);
    }

    #[test]
    fn round_trip_and_absorb() {
        let mut a = ResourceSet::default();
        a.learn(Read, "/etc/passwd");
        a.learn(Connect, "unix:/run/mysqld/mysqld.sock");
        for i in 0..17 {
            a.learn(Write, &format!("/var/log/a{i}b"));
        }
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            r#"{"connect":["unix:/run/mysqld/mysqld.sock"],"read":["/etc/passwd"],"write":["/var/log/*"]}"#
        );
        let back: ResourceSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        let mut b = ResourceSet::default();
        b.learn(Read, "/etc/group");
        b.learn(Write, "/var/log/x");
        b.absorb(&a);
        assert!(b.contains(Read, "/etc/passwd") && b.contains(Read, "/etc/group"));
        assert!(b.contains(Write, "/var/log/new"));
        assert_eq!(b.len(), 4);
        assert!(serde_json::from_str::<ResourceSet>(r#"{"read":[""]}"#).is_err());
        assert!(serde_json::from_str::<ResourceSet>(r#"{"open":["/x"]}"#).is_err());
    }
}
