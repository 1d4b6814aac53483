//! hrhub-zendesk
