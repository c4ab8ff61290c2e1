//! Who made a profile: per workload that learnt it (engine, image, Kubernetes namespace), how many
//! containers, the last container ids, and when. Kept in the profile itself, so the host store
//! records it with every save; the first entry is the workload that learnt it first, which a host
//! that binds profiles to their workload holds them to.

use serde::{Deserialize, Serialize};

/// Workloads kept per profile; past it the oldest but the first give way.
pub const MAX_WORKLOADS: usize = 32;
/// Container ids kept per workload (the latest).
pub const MAX_CONTAINERS: usize = 8;

/// What a container is, as far as its engine tells. Every field comes from the engine (its
/// annotations or its own state on the host), never from the container's env or image files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// `docker`, `containerd-cri`, `cri-o`, `podman`, or `unknown`.
    pub engine: String,
    /// The image's name (`io.kubernetes.cri.image-name`, ...), where the engine passes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image's digest (`io.kubernetes.cri.image-ref`, ...), or under docker the image id from
    /// dockerd's record of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The Kubernetes namespace of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Workload {
    /// Whether the engine said anything that tells workloads apart.
    pub fn is_known(&self) -> bool {
        self.image.is_some() || self.image_id.is_some() || self.namespace.is_some()
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("engine {}", self.engine)];
        if let Some(i) = &self.image {
            parts.push(format!("image {i}"));
        }
        if let Some(i) = &self.image_id {
            parts.push(format!("image id {i}"));
        }
        if let Some(n) = &self.namespace {
            parts.push(format!("namespace {n}"));
        }
        if !self.is_known() {
            parts.push("image unknown (the engine passes none)".into());
        }
        parts.join(", ")
    }
}

/// One workload that learnt a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learner {
    #[serde(flatten)]
    pub workload: Workload,
    /// Containers of this workload that learnt the profile.
    pub runs: u64,
    /// The latest container ids, oldest first.
    pub containers: Vec<String>,
    /// When the first and the latest of them started learning (RFC 3339, UTC).
    pub first: String,
    pub last: String,
}

/// Every workload that learnt a profile, the first first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    pub learnt_by: Vec<Learner>,
}

impl Provenance {
    pub fn is_empty(&self) -> bool {
        self.learnt_by.is_empty()
    }

    /// The workload that learnt the profile first.
    pub fn first(&self) -> Option<&Workload> {
        self.learnt_by.first().map(|l| &l.workload)
    }

    /// Records that `container` of `workload` learns the profile, at `time`.
    pub fn record(&mut self, workload: &Workload, container: &str, time: &str) {
        match self.learnt_by.iter_mut().find(|l| &l.workload == workload) {
            Some(l) => {
                l.runs = l.runs.saturating_add(1);
                l.last = time.to_owned();
                l.containers.retain(|c| c != container);
                l.containers.push(container.to_owned());
                if l.containers.len() > MAX_CONTAINERS {
                    l.containers.remove(0);
                }
            }
            None => {
                if self.learnt_by.len() >= MAX_WORKLOADS {
                    self.learnt_by.remove(1.min(self.learnt_by.len() - 1));
                }
                self.learnt_by.push(Learner {
                    workload: workload.clone(),
                    runs: 1,
                    containers: vec![container.to_owned()],
                    first: time.to_owned(),
                    last: time.to_owned(),
                });
            }
        }
    }

    /// Both records in one: `other`'s workloads added to ours (a merge of two profiles).
    pub fn absorb(&mut self, other: &Provenance) {
        for l in &other.learnt_by {
            let room = self.learnt_by.len() < MAX_WORKLOADS;
            match self.learnt_by.iter_mut().find(|m| m.workload == l.workload) {
                Some(m) => {
                    m.runs = m.runs.saturating_add(l.runs);
                    m.first = m.first.clone().min(l.first.clone());
                    m.last = m.last.clone().max(l.last.clone());
                    for c in &l.containers {
                        if !m.containers.contains(c) {
                            m.containers.push(c.clone());
                        }
                    }
                    let excess = m.containers.len().saturating_sub(MAX_CONTAINERS);
                    m.containers.drain(..excess);
                }
                None if room => self.learnt_by.push(l.clone()),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str) -> Workload {
        Workload {
            engine: "containerd-cri".into(),
            image: Some(name.into()),
            ..Workload::default()
        }
    }

    #[test]
    fn records_runs_per_workload_and_keeps_the_first() {
        let mut p = Provenance::default();
        p.record(&image("a"), "c1", "t1");
        p.record(&image("a"), "c2", "t2");
        p.record(&image("b"), "c3", "t3");
        assert_eq!(p.learnt_by.len(), 2);
        assert_eq!(p.learnt_by[0].runs, 2);
        assert_eq!(p.learnt_by[0].containers, ["c1", "c2"]);
        assert_eq!(
            (p.learnt_by[0].first.as_str(), p.learnt_by[0].last.as_str()),
            ("t1", "t2")
        );
        for i in 0..100 {
            p.record(&image(&format!("x{i}")), &format!("c{i}"), "t");
            p.record(&image("a"), &format!("a{i}"), "t");
        }
        assert_eq!(p.learnt_by.len(), MAX_WORKLOADS);
        assert_eq!(p.first(), Some(&image("a")), "the first learner stays");
        assert_eq!(p.learnt_by[0].containers.len(), MAX_CONTAINERS);
        assert_eq!(p.learnt_by[0].runs, 102);
    }

    #[test]
    fn absorb_adds_runs_and_new_workloads() {
        let mut a = Provenance::default();
        a.record(&image("a"), "c1", "t2");
        let mut b = Provenance::default();
        b.record(&image("a"), "c2", "t1");
        b.record(&image("b"), "c3", "t3");
        a.absorb(&b);
        assert_eq!(a.learnt_by.len(), 2);
        assert_eq!(a.learnt_by[0].runs, 2);
        assert_eq!(a.learnt_by[0].first, "t1");
        assert_eq!(a.learnt_by[0].containers, ["c1", "c2"]);
    }
}
