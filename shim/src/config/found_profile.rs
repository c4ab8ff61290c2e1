//! A profile that detection will use, and where it was found (a file of the host store or a path
//! given by the container's settings; `image_profile` finds those shipped in the image).

use std::path::Path;

use ids_monitor::profile::Profile;

/// A profile that detection will use, and where it was found.
#[derive(Debug, Clone)]
pub struct FoundProfile {
    pub profile: Profile,
    pub origin: String,
}

/// Loads the profile at `path`.
pub fn load(path: &Path) -> anyhow::Result<FoundProfile> {
    let profile = Profile::load(path)?;
    Ok(FoundProfile {
        profile,
        origin: path.display().to_string(),
    })
}
