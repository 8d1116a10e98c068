//! Hookline's shared crate: the webhook model and its validation, storage, and the wiring every
//! function needs (configuration, AWS clients, logging).

pub mod api;
pub mod apikeys;
pub mod carried_webhook;
pub mod catalogue;
pub mod clock;
pub mod config;
pub mod egress;
pub mod events;
pub mod formats;
pub mod http;
pub mod ids;
pub mod inbound;
pub mod local;
pub mod model;
pub mod notify;
pub mod outbound;
pub mod paths;
pub mod queue;
pub mod random;
pub mod render;
pub mod sealing;
pub mod signing;
pub mod store;
pub mod telemetry;
