//! What workload a container belongs to, as its engine tells: the image and the Kubernetes
//! namespace. Only the engine's word counts — annotations the engine itself sets, or the engine's
//! own state on the host — never the container's env or files, which its image controls.
//!
//! What each engine passes (docker and podman looked at on this project's machine; the CRI and
//! CRI-O keys as public code that reads them names them: no kubelet runs here):
//! - containerd's CRI (Kubernetes): `io.kubernetes.cri.image-name`, `io.kubernetes.cri.image-ref`
//!   (the digest, where the containerd version sets it), `io.kubernetes.cri.sandbox-namespace`;
//! - CRI-O: `io.kubernetes.cri-o.ImageName`, `io.kubernetes.cri-o.ImageRef`,
//!   `io.kubernetes.pod.namespace`;
//! - docker 20.10: no annotation at all and no image name. dockerd's own records on the host
//!   tell the image: the rootfs is `<data-root>/overlay2/<mount-id>/merged`,
//!   `<data-root>/image/overlay2/layerdb/mounts/<container-id>/mount-id` holds that `mount-id`
//!   (so the record is this container's), and `<data-root>/containers/<container-id>/config.v2.json`
//!   the image id (`Image`, `sha256:…`; a rebuild changes it) and the image's name as whoever ran
//!   it typed it (`Config.Image`: `busybox`, `web:1.4`, or an id).
//! - podman 4.3: `io.container.manager: libpod` and no image name. `podman run --annotation`
//!   sets any key, so under podman no `io.kubernetes.*` key is believed.

use std::path::Path;

use ids_monitor::profile::provenance::Workload;

/// dockerd's record of a container is a few KiB; more is not dockerd's.
const MAX_CONTAINER_RECORD: u64 = 4 << 20;

/// The workload of container `id` from its bundle's `spec`.
pub fn of(spec: &serde_json::Value, id: &str) -> Workload {
    let annotation = |key: &str| {
        spec["annotations"][key]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let Some(image) = spec["root"]["path"]
        .as_str()
        .and_then(|root| docker_image(Path::new(root), id))
    {
        return Workload {
            engine: "docker".into(),
            image_id: Some(image),
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

/// The image's name as the engine gives it (what whoever ran the container typed, under docker;
/// the CRI's resolved name under Kubernetes), which names the profile a container learns by
/// default. `workload` is [`of`] this container. None under podman, `ctr` and plain runc.
pub fn image_name(spec: &serde_json::Value, id: &str, workload: &Workload) -> Option<String> {
    if workload.engine != "docker" {
        return workload.image.clone();
    }
    let record = docker_record(Path::new(spec["root"]["path"].as_str()?), id)?;
    record["Config"]["Image"]
        .as_str()
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

/// Under dockerd's overlay2 store: the id of container `id`'s image (`Image`, what `docker images`
/// and `docker inspect -f {{.Image}}` show).
fn docker_image(rootfs: &Path, id: &str) -> Option<String> {
    let record = docker_record(rootfs, id)?;
    let image = record["Image"].as_str()?;
    let hex = image.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| image.to_owned())
}

/// dockerd's record of container `id`, if dockerd's layer store says this rootfs is that
/// container's. dockerd records each container in its data root before it asks the runtime to
/// create it: `image/overlay2/layerdb/mounts/<id>/mount-id` names the rootfs's directory, and
/// `containers/<id>/config.v2.json` is the record.
fn docker_record(rootfs: &Path, id: &str) -> Option<serde_json::Value> {
    if rootfs.file_name()? != "merged" {
        return None;
    }
    let mount_dir = rootfs.parent()?;
    let mount_id = mount_dir.file_name()?.to_str()?;
    let overlay = mount_dir.parent()?;
    if overlay.file_name()? != "overlay2" || crate::config::profile_ref::check_name(id).is_err() {
        return None;
    }
    let data_root = overlay.parent()?;
    let recorded = std::fs::read_to_string(
        data_root
            .join("image/overlay2/layerdb/mounts")
            .join(id)
            .join("mount-id"),
    )
    .ok()?;
    if recorded.trim() != mount_id {
        return None;
    }
    let config =
        std::fs::File::open(data_root.join("containers").join(id).join("config.v2.json")).ok()?;
    serde_json::from_reader(std::io::Read::take(config, MAX_CONTAINER_RECORD)).ok()
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
        assert_eq!(
            image_name(&json!({}), "c1", &w).as_deref(),
            Some("docker.io/library/nginx:1.25")
        );
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
        assert_eq!(image_name(&json!({}), "c1", &w), None);
        let w = of(&json!({"process": {"env": ["IMAGE=x"]}}), "c1");
        assert!(!w.is_known());
    }

    #[test]
    fn docker_by_its_own_records() {
        let data = tempfile::tempdir().unwrap();
        let rootfs = data.path().join("overlay2/m1/merged");
        std::fs::create_dir_all(&rootfs).unwrap();
        let mounts = data.path().join("image/overlay2/layerdb/mounts/c1");
        std::fs::create_dir_all(&mounts).unwrap();
        std::fs::write(mounts.join("mount-id"), "m1").unwrap();
        let image = format!("sha256:{}", "ab".repeat(32));
        let record = data.path().join("containers/c1");
        std::fs::create_dir_all(&record).unwrap();
        std::fs::write(
            record.join("config.v2.json"),
            json!({"Image": image, "Config": {"Image": "busybox"}}).to_string(),
        )
        .unwrap();
        let spec = json!({"root": {"path": rootfs}});
        let w = of(&spec, "c1");
        assert_eq!(
            (w.engine.as_str(), w.image_id.as_deref()),
            ("docker", Some(image.as_str()))
        );
        assert_eq!(image_name(&spec, "c1", &w).as_deref(), Some("busybox"));
        // Another container's record does not vouch for this rootfs.
        std::fs::write(mounts.join("mount-id"), "m2").unwrap();
        assert_eq!(of(&spec, "c1").engine, "unknown");
        assert_eq!(of(&spec, "../c1").engine, "unknown");
    }
}
