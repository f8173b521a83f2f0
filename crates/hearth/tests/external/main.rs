//! External-broker mode (issue 21): `hearth serve` processes with `[mqtt] mode =
//! "external"` on one PostgreSQL database, behind Debian's Mosquitto started by the test
//! on a free loopback port, with real MQTT devices publishing to Mosquitto.

mod bus;
mod coordinator;
mod harness;
mod kill;
mod orphan;
mod split;
mod three_nodes;
