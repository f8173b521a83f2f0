//! The home side of edge + cloud (issue 20): two real hubs on loopback, the home one
//! bridged to the cloud one through a TCP proxy the test can cut, with real MQTT
//! devices at home and a real MQTT subscriber on the cloud.
//!
//! Until the cloud's site logins exist, the home link logs in to the cloud as a broker
//! password-file user allowed on `sites/#`.

mod api;
mod commands;
mod harness;
mod outage;
mod overflow;
mod proxy;
