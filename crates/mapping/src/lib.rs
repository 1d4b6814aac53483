//! hrhub-mapping
