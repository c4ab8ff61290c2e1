//! The store name a container learns into when its settings name none: the image's name where
//! the engine tells it (so every container of one image grows one profile), else the container id.
//!
//! An image name is not trusted: whoever runs a container chooses it, and under the CRI it may be
//! any registry path. It becomes a store name by keeping `[A-Za-z0-9_.-]` and writing `_` for
//! every other character (`docker.io/library/nginx:1.25` → `docker.io_library_nginx_1.25`), a
//! leading `.` as `_`, and a name past the store's limit cut short with a hash of the whole name
//! after it. What comes out always passes the store's name check: it can name no file outside the
//! store. Two images whose names differ only where `_` was written share a profile.

use crate::config::profile_ref::{check_name, MAX_NAME_LEN};

/// Hex digits of the hash that ends a shortened name.
const HASH_DIGITS: usize = 16;

/// The default store name, and what it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultName {
    pub name: String,
    pub from: String,
}

/// The default for container `id` whose engine named its image `image` (if it did). None if
/// neither gives a store name (a container id with characters a store name cannot have).
pub fn of(image: Option<&str>, id: &str) -> Option<DefaultName> {
    if let Some(name) = image.and_then(from_image) {
        return Some(DefaultName {
            name,
            from: format!("the image name {:?}", image.unwrap_or_default()),
        });
    }
    check_name(id).ok().map(|()| DefaultName {
        name: id.to_owned(),
        from: "the container id".to_owned(),
    })
}

/// The store name made from an image name; None for an empty one.
pub fn from_image(image: &str) -> Option<String> {
    let mut name: String = image
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with('.') {
        name.replace_range(..1, "_");
    }
    if name.len() > MAX_NAME_LEN {
        // Every character is ASCII now, so any byte index is a character boundary.
        name.truncate(MAX_NAME_LEN - HASH_DIGITS - 1);
        name.push_str(&format!("-{:016x}", fnv1a(image.as_bytes())));
    }
    check_name(&name).ok().map(|()| name)
}

/// FNV-1a, 64 bits: stable across builds and versions, since the name it ends stays on disk.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_become_store_names() {
        for (image, name) in [
            ("busybox", "busybox"),
            ("web:1.4", "web_1.4"),
            (
                "docker.io/library/nginx:1.25",
                "docker.io_library_nginx_1.25",
            ),
            (
                "registry:5000/a/b@sha256:ab12",
                "registry_5000_a_b_sha256_ab12",
            ),
        ] {
            assert_eq!(from_image(image).as_deref(), Some(name), "{image}");
        }
    }

    #[test]
    fn hostile_image_names_never_leave_the_store() {
        let long = "a/".repeat(300);
        for image in [
            "../x",
            "../../etc/passwd",
            "..",
            ".",
            ".hidden",
            "/etc/shadow",
            "a\0b",
            "a\u{1b}[2Jb",
            "café\u{202e}",
            long.as_str(),
        ] {
            let name = from_image(image).unwrap();
            assert_eq!(check_name(&name), Ok(()), "{image:?} → {name:?}");
            assert!(!name.contains('/') && !name.starts_with('.'), "{name}");
        }
        let long_name = from_image(&long).unwrap();
        assert_eq!(long_name.len(), MAX_NAME_LEN);
        assert_ne!(long_name, from_image(&"a/".repeat(301)).unwrap());
        assert_eq!(from_image(""), None);
    }

    #[test]
    fn the_container_id_where_the_engine_names_no_image() {
        let d = of(None, "c1").unwrap();
        assert_eq!(
            (d.name.as_str(), d.from.as_str()),
            ("c1", "the container id")
        );
        let d = of(Some("web:1"), "c1").unwrap();
        assert_eq!(d.name, "web_1");
        assert!(d.from.contains("web:1"));
        assert_eq!(of(None, "../c1"), None);
    }
}
