//! The home side of edge + cloud (issue 20): two real hubs on loopback, the home one
//! bridged to the cloud one through a TCP proxy the test can cut, with real MQTT
//! devices at home and a real MQTT subscriber on the cloud.
//! The link logs in to the cloud as a real site of its registry; the watcher on the
//! cloud is a broker password-file user. `scale.rs` runs the cloud as a process of its
//! own, to stop and kill it.

mod api;
mod command_status;
mod commands;
mod harness;
mod inbound;
mod mirror;
mod mosquitto;
mod moves;
mod outage;
mod overflow;
mod proxy;
mod refuse;
mod scale;
mod site_link;
mod topics;
