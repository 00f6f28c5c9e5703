//! SCIM 2.0 protocol.
