//! youki's container engine.
