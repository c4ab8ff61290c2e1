//! A profile that detection will use, and where it was found (`profile_ref` opens those of the
//! host store and of the directories the host lists; `image_profile` those shipped in the image).

use ids_monitor::profile::Profile;

/// A profile that detection will use, and where it was found.
#[derive(Debug, Clone)]
pub struct FoundProfile {
    pub profile: Profile,
    pub origin: String,
}
