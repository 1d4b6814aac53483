//! hrhub-sync
