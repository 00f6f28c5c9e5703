//! The identity lifecycle engine (risk R3).
//!
//! Pure functions over an in-memory snapshot: what HR says about people, what the target
//! systems hold, and the policies per process unit. The engine answers "what must change"
//! as a [`model::Plan`]; it never performs an action itself. The server persists plans,
//! asks for approval when the circuit breaker trips, and executes actions through the
//! connectors (crate `bposhield-connectors`).

pub mod model;
