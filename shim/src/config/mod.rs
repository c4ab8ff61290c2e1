//! How a container is to be monitored: the host's settings, what the host makes mandatory, a
//! profile shipped in the image, and the selection of mode, profile, monitor and action made from
//! them and the container's own annotations and env.

pub mod found_profile;
pub mod host;
pub mod image_profile;
pub mod mandatory;
pub mod selection;
