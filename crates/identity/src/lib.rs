//! The identity lifecycle engine (risk R3).
//!
//! Pure functions over an in-memory snapshot: what HR says about people, what the target
//! systems hold, and the policies per process unit. The engine answers "what must change"
//! as a [`reconcile::Plan`]; it never performs an action itself. The server persists
//! plans, holds them for approval when the [`safety::Breaker`] trips, and executes
//! actions through the connectors (crate `bposhield-connectors`).
//!
//! What belongs here: the vocabulary ([`model`]), policies as data ([`policy`]),
//! expected access ([`birthright`]), reconciliation and its dry-run ([`reconcile`]),
//! execution guards ([`safety`]), HR and activity CSV parsing ([`hrcsv`]) and a
//! synthetic BPO for benchmarks and the demo ([`gen`]). What does not: HTTP, SQL, clock
//! reads (every function takes `now`), and I/O beyond parsing bytes handed in.

pub mod birthright;
pub mod dates;
pub mod gen;
pub mod hrcsv;
pub mod model;
pub mod policy;
pub mod reconcile;
pub mod safety;
