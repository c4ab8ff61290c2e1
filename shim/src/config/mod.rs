//! How a container is to be monitored: the host's settings, what the host makes mandatory, a
//! profile shipped in the image or named by the container's settings (and kept within the store or
//! the directories the host lists), the workload a container belongs to and the profiles bound to
//! one, the profile name a container learns into by default (from its image's name), and the
//! selection of mode, profile, monitor and action made from them and the container's
//! own annotations and env.

pub mod binding;
pub mod confined_open;
pub mod default_name;
pub mod found_profile;
pub mod host;
pub mod image_profile;
pub mod mandatory;
pub mod profile_ref;
pub mod selection;
pub mod workload;
