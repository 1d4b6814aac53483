//! hrhub-store
