//! Password file and ACL file authorizer (being written).
