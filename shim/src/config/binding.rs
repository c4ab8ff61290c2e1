//! Which workload may extend a profile of the store.
//!
//! Learning extends the profile saved under the same name, and any container may name any
//! profile. On a host shared by tenants that lets one tenant teach another's profile its attack
//! and so blind that detector. The host config can bind profiles to their workload:
//! - `profile_owners`: a profile the host names belongs to an image (matched against the image's
//!   name or id as the engine gives it) and/or a Kubernetes namespace;
//! - `bind_profiles: true`: every other profile belongs to the workload that first learnt it
//!   (the first entry of its provenance): the same image name where the engine passes one, else
//!   the same image id, and the same namespace where there is one.
//!
//! A container of another workload, or one whose engine tells nothing, is refused; `create`
//! writes the attempt as a `learn-refused` event and fails. Detection with a bound profile is not
//! restricted: it teaches the profile nothing.

use std::fmt;

use ids_monitor::profile::provenance::{Provenance, Workload};

use crate::config::host::{HostConfig, Owner};

/// A container refused learning into a profile bound to another workload.
#[derive(Debug, Clone)]
pub struct Refused {
    pub profile: String,
    pub message: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// Whether a container of `workload` may extend profile `name`, whose saved provenance (if it
/// exists) is `existing`.
pub fn check(
    host: &HostConfig,
    name: &str,
    existing: Option<&Provenance>,
    workload: &Workload,
) -> Result<(), Refused> {
    let (owner, by) = match host.profile_owners.get(name) {
        Some(owner) => (owner.clone(), format!("host config profile_owners.{name}")),
        None if host.bind_profiles => match existing.and_then(Provenance::first) {
            Some(first) if first.is_known() => (
                Owner {
                    image: first.image.clone().or_else(|| first.image_id.clone()),
                    namespace: first.namespace.clone(),
                },
                "host config bind_profiles: the workload that first learnt it".to_owned(),
            ),
            _ => return Ok(()),
        },
        None => return Ok(()),
    };
    let image_ok = owner.image.as_ref().is_none_or(|i| {
        workload.image.as_ref() == Some(i) || workload.image_id.as_ref() == Some(i)
    });
    let namespace_ok = owner
        .namespace
        .as_ref()
        .is_none_or(|n| workload.namespace.as_ref() == Some(n));
    if image_ok && namespace_ok {
        return Ok(());
    }
    let mut bound = Vec::new();
    if let Some(i) = &owner.image {
        bound.push(format!("image {i}"));
    }
    if let Some(n) = &owner.namespace {
        bound.push(format!("namespace {n}"));
    }
    Err(Refused {
        profile: name.to_owned(),
        message: format!(
            "profile {name} is bound to {} ({by}); this container ({}) cannot extend it",
            bound.join(", "),
            workload.describe()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(image: &str) -> Workload {
        Workload {
            engine: "docker".into(),
            image_id: Some(image.into()),
            ..Workload::default()
        }
    }

    fn learnt_by(w: &Workload) -> Provenance {
        let mut p = Provenance::default();
        p.record(w, "c0", "t0");
        p
    }

    #[test]
    fn unbound_by_default() {
        let host = HostConfig::default();
        let p = learnt_by(&docker("a"));
        assert!(check(&host, "web", Some(&p), &docker("b")).is_ok());
    }

    #[test]
    fn bound_to_the_first_learner() {
        let host = HostConfig {
            bind_profiles: true,
            ..HostConfig::default()
        };
        let p = learnt_by(&docker("a"));
        assert!(check(&host, "web", Some(&p), &docker("a")).is_ok());
        let err = check(&host, "web", Some(&p), &docker("b")).unwrap_err();
        assert!(
            err.message.contains("image a") && err.message.contains("bind_profiles"),
            "{err}"
        );
        let unknown = Workload {
            engine: "unknown".into(),
            ..Workload::default()
        };
        assert!(check(&host, "web", Some(&p), &unknown).is_err());
        // A profile nobody learnt yet, or learnt by an unknown workload, is not bound.
        assert!(check(&host, "new", None, &docker("b")).is_ok());
        assert!(check(&host, "web", Some(&learnt_by(&unknown)), &docker("b")).is_ok());
    }

    #[test]
    fn the_host_names_owners() {
        let owner = Owner {
            image: Some("nginx:1".into()),
            namespace: Some("prod".into()),
        };
        let host = HostConfig {
            profile_owners: [("web".to_owned(), owner)].into(),
            ..HostConfig::default()
        };
        let mut w = Workload {
            engine: "containerd-cri".into(),
            image: Some("nginx:1".into()),
            image_id: None,
            namespace: Some("prod".into()),
        };
        assert!(check(&host, "web", None, &w).is_ok());
        w.namespace = Some("dev".into());
        let err = check(&host, "web", None, &w).unwrap_err();
        assert!(err.message.contains("profile_owners.web"), "{err}");
        assert!(check(&host, "other", None, &w).is_ok());
    }
}
