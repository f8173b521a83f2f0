//! The narrow waist between Hearth's services and the MQTT broker that carries messages.
//!
//! Services (ingest, presence, commands, automations) never see MQTT sessions or
//! sockets: they publish and subscribe through [`Bus`], which the embedded broker
//! implements in-process and which an MQTT client will implement for an external
//! cluster (EMQX) in scale-out mode. The broker in turn never sees users, devices or
//! SQL: it asks an [`Authorizer`] who may connect and what each [`Principal`] may touch.
//!
//! # Layout
//! - `envelope`: [`Envelope`], a message as services see it.
//! - `auth`: [`Authorizer`], [`ConnectRequest`], [`Principal`], [`AuthError`].
//! - `bus`: [`Bus`], [`Subscription`], [`Interceptor`], [`AckToken`].
//! - `client_events`: [`ClientEvent`], connections beginning and ending (presence).
//! - `broker_state`: [`broker_state::BrokerStore`], where a broker keeps what must
//!   survive a restart (retained messages, sessions), implemented by the store crate.

mod auth;
pub mod broker_state;
mod bus;
mod client_events;
mod envelope;

pub use auth::{
    Action, AllowAll, AuthError, Authorizer, ConnectRequest, Principal, PrincipalKind,
    SubscribeVerdict, Transport,
};
pub use bus::{AckToken, Bus, BusError, Interceptor, Subscription};
pub use client_events::{ClientEvent, ClientEvents, ClientObserver};
pub use envelope::{Envelope, Qos};
