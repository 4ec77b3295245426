//! The default-StorageClass mutating admission webhook (`berth webhook`).
//!
//! [`decide`] is the pure rule (which claims get which class), [`tls`] loads or generates the serving
//! certificate and publishes its CA into the MutatingWebhookConfiguration, [`server`] serves AdmissionReview v1
//! over HTTPS from a reflector cache of StorageClasses.
pub mod decide;
pub mod server;
pub mod tls;
