//! What workload a container belongs to, as its engine tells: the image and the Kubernetes
//! namespace. Only the engine's word counts — annotations the engine itself sets, or the engine's
//! own state on the host — never the container's env or files, which its image controls.
//!
//! What each engine passes (looked at on this project's machine and in the engines' sources):
//! - containerd's CRI (Kubernetes): `io.kubernetes.cri.image-name`, `io.kubernetes.cri.image-ref`
//!   (the digest, containerd ≥ 1.7), `io.kubernetes.cri.sandbox-namespace`;
//! - CRI-O: `io.kubernetes.cri-o.ImageName`, `io.kubernetes.cri-o.ImageRef`,
//!   `io.kubernetes.pod.namespace`;
//! - docker 20.10: no annotation at all and no image name. dockerd's own layer store tells the
//!   image's layers: the rootfs is `<data-root>/overlay2/<mount-id>/merged`, and
//!   `<data-root>/image/overlay2/layerdb/mounts/<container-id>/` holds that `mount-id` and, in
//!   `parent`, the chain id of the image's layers. The id names the image's content (two images
//!   with the same layers and different `ENV` share it); a rebuild changes it.
//! - podman 4.3: `io.container.manager: libpod` and no image name. `podman run --annotation`
//!   sets any key, so under podman no `io.kubernetes.*` key is believed.

use std::path::Path;

use ids_monitor::profile::provenance::Workload;

/// The workload of container `id` from its bundle's `spec`.
pub fn of(spec: &serde_json::Value, id: &str) -> Workload {
    let annotation = |key: &str| {
        spec["annotations"][key]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let Some(chain) = spec["root"]["path"]
        .as_str()
        .and_then(|root| docker_image_layers(Path::new(root), id))
    {
        return Workload {
            engine: "docker".into(),
            image_id: Some(chain),
            ..Workload::default()
        };
    }
    if annotation("io.container.manager").as_deref() == Some("libpod") {
        return Workload {
            engine: "podman".into(),
            ..Workload::default()
        };
    }
    if let Some(image) = annotation("io.kubernetes.cri.image-name") {
        return Workload {
            engine: "containerd-cri".into(),
            image: Some(image),
            image_id: annotation("io.kubernetes.cri.image-ref"),
            namespace: annotation("io.kubernetes.cri.sandbox-namespace"),
        };
    }
    if let Some(image) = annotation("io.kubernetes.cri-o.ImageName") {
        return Workload {
            engine: "cri-o".into(),
            image: Some(image),
            image_id: annotation("io.kubernetes.cri-o.ImageRef"),
            namespace: annotation("io.kubernetes.pod.namespace"),
        };
    }
    Workload {
        engine: "unknown".into(),
        ..Workload::default()
    }
}

/// Under dockerd's overlay2 store: the chain id of the image layers below container `id`'s
/// rootfs, if dockerd's layer store says this rootfs is that container's.
fn docker_image_layers(rootfs: &Path, id: &str) -> Option<String> {
    if rootfs.file_name()? != "merged" {
        return None;
    }
    let mount_dir = rootfs.parent()?;
    let mount_id = mount_dir.file_name()?.to_str()?;
    let overlay = mount_dir.parent()?;
    if overlay.file_name()? != "overlay2" || crate::config::profile_ref::check_name(id).is_err() {
        return None;
    }
    let record = overlay
        .parent()?
        .join("image/overlay2/layerdb/mounts")
        .join(id);
    let recorded = std::fs::read_to_string(record.join("mount-id")).ok()?;
    if recorded.trim() != mount_id {
        return None;
    }
    let parent = std::fs::read_to_string(record.join("parent")).ok()?;
    let parent = parent.trim();
    let hex = parent.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| parent.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubernetes_engines_by_their_annotations() {
        let w = of(
            &json!({"annotations": {
                "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25",
                "io.kubernetes.cri.sandbox-namespace": "prod"
            }}),
            "c1",
        );
        assert_eq!(w.engine, "containerd-cri");
        assert_eq!(w.image.as_deref(), Some("docker.io/library/nginx:1.25"));
        assert_eq!(w.namespace.as_deref(), Some("prod"));
        let w = of(
            &json!({"annotations": {"io.kubernetes.cri-o.ImageName": "x", "io.kubernetes.pod.namespace": "n"}}),
            "c1",
        );
        assert_eq!(
            (w.engine.as_str(), w.namespace.as_deref()),
            ("cri-o", Some("n"))
        );
    }

    #[test]
    fn podman_and_env_tell_nothing() {
        let w = of(
            &json!({"annotations": {
                "io.container.manager": "libpod",
                "io.kubernetes.cri.image-name": "forged"
            }}),
            "c1",
        );
        assert_eq!(w.engine, "podman");
        assert!(!w.is_known());
        let w = of(&json!({"process": {"env": ["IMAGE=x"]}}), "c1");
        assert!(!w.is_known());
    }

    #[test]
    fn docker_by_its_layer_store() {
        let data = tempfile::tempdir().unwrap();
        let rootfs = data.path().join("overlay2/m1/merged");
        std::fs::create_dir_all(&rootfs).unwrap();
        let record = data.path().join("image/overlay2/layerdb/mounts/c1");
        std::fs::create_dir_all(&record).unwrap();
        std::fs::write(record.join("mount-id"), "m1").unwrap();
        let chain = format!("sha256:{}", "ab".repeat(32));
        std::fs::write(record.join("parent"), &chain).unwrap();
        let spec = json!({"root": {"path": rootfs}});
        let w = of(&spec, "c1");
        assert_eq!(
            (w.engine.as_str(), w.image_id.as_deref()),
            ("docker", Some(chain.as_str()))
        );
        // Another container's record does not vouch for this rootfs.
        std::fs::write(record.join("mount-id"), "m2").unwrap();
        assert_eq!(of(&spec, "c1").engine, "unknown");
        assert_eq!(of(&spec, "../c1").engine, "unknown");
    }
}
