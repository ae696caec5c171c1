//! Reference tools.
