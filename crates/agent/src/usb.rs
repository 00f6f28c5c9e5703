//! USB enforcement on Linux through sysfs, like USBGuard's Linux backend.
//!
//! At start the agent sets `authorized_default` (and `interface_authorized_default`,
//! where the kernel has it) of every root hub to 0, so the kernel leaves every new
//! device unauthorized until the agent has judged it. Each device is then judged:
//! an approved exception or an offline grant for its hash allows it; otherwise the
//! bundle's rules decide, first match wins. When no rule matches the whole device,
//! each interface is judged on its own and the device is authorized with just the
//! interfaces a rule allows (`partial`): a headset's audio and HID interfaces work,
//! its mass-storage interface stays unauthorized. With nothing allowed, the device
//! stays blocked.
//!
//! Interfaces are judged by their types as the `descriptors` file declares them
//! (every interface descriptor, as USBGuard lists them): on a real kernel a device
//! left unauthorized has no interface directories yet. For a partial decision the
//! agent authorizes the device, which makes the kernel create its interfaces
//! (unauthorized, since `interface_authorized_default` is 0), reads them back, and
//! authorizes those of an allowed type.

use bposhield_endpoint::device::{UsbDevice, UsbInterface};
use bposhield_endpoint::rules::{EvalContext, RuleSet, Target};
use bposhield_proto::fleet::{BundleException, DeviceEvent};
use std::path::Path;

/// What the agent decided about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Authorized with only the interfaces of these types (`class, subclass, protocol`).
    Partial(Vec<(u8, u8, u8)>),
    Blocked,
    /// Blocked and removed from the bus (USBGuard's `reject`).
    Rejected,
}

impl Decision {
    /// The wire name in device events.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Partial(_) => "partial",
            Decision::Blocked | Decision::Rejected => "blocked",
        }
    }
}

/// A judgement with its reason.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub decision: Decision,
    pub reason: String,
    pub exception_id: Option<bposhield_proto::ExceptionId>,
    pub offline_challenge: Option<String>,
}

/// What enforcement needs to know, from the bundle and the grants.
#[derive(Debug)]
pub struct Policy<'a> {
    pub enforce: bool,
    pub rules: &'a RuleSet,
    pub exceptions: &'a [BundleException],
    /// Offline grants: device hash, expiry, challenge.
    pub grants: &'a [(String, i64, String)],
    pub ctx: &'a EvalContext,
    pub now: i64,
}

/// Interface classes that carry data off the floor: mass storage, still image
/// (MTP/PTP), wireless controllers, and vendor-specific (most phones' MTP).
#[must_use]
pub fn storage_like(dev: &UsbDevice) -> bool {
    dev.interface_types().iter().any(|&(class, _, _)| matches!(class, 0x08 | 0x06 | 0xe0 | 0xff))
}

/// Judges a device.
#[must_use]
pub fn judge(dev: &UsbDevice, hash: &str, p: &Policy<'_>) -> Judgement {
    let j = |decision, reason: String| Judgement { decision, reason, exception_id: None, offline_challenge: None };
    if !p.enforce {
        return j(Decision::Allowed, "USB enforcement is off for this host".into());
    }
    if dev.is_root_hub() {
        return j(Decision::Allowed, "root hub".into());
    }
    if let Some(e) = p.exceptions.iter().find(|e| e.device_hash == hash && e.expires_at > p.now) {
        return Judgement {
            decision: Decision::Allowed,
            reason: format!("exception {}", e.id),
            exception_id: Some(e.id),
            offline_challenge: None,
        };
    }
    if let Some((_, _, challenge)) = p.grants.iter().find(|(h, exp, _)| h == hash && *exp > p.now) {
        return Judgement {
            decision: Decision::Allowed,
            reason: "offline response code".into(),
            exception_id: None,
            offline_challenge: Some(challenge.clone()),
        };
    }
    let whole = p.rules.evaluate(&dev.view(None), p.ctx);
    match (whole.target, whole.line) {
        (Target::Allow, Some(line)) => return j(Decision::Allowed, format!("rule at line {line}")),
        (Target::Reject, Some(line)) => return j(Decision::Rejected, format!("rule at line {line} (reject)")),
        (_, Some(line)) => return j(Decision::Blocked, format!("rule at line {line}")),
        (_, None) => {}
    }
    let mut types = dev.interface_types();
    types.sort_unstable();
    types.dedup();
    let allowed: Vec<(u8, u8, u8)> = types
        .iter()
        .copied()
        .filter(|&t| {
            let mut view = dev.view(None);
            view.interfaces = vec![t];
            let v = p.rules.evaluate(&view, p.ctx);
            v.target == Target::Allow && v.line.is_some()
        })
        .collect();
    if allowed.is_empty() {
        j(Decision::Blocked, "default: no rule allows the device or any of its interfaces".into())
    } else if allowed.len() == types.len() {
        j(Decision::Allowed, "every interface allowed by a rule".into())
    } else {
        j(Decision::Partial(allowed), "default: only the interfaces a rule allows".into())
    }
}

fn type_of(i: &UsbInterface) -> (u8, u8, u8) {
    (i.class, i.subclass, i.protocol)
}

/// Writes the decision to sysfs: the device's `authorized`, then each interface's.
///
/// # Errors
/// When sysfs refuses the write.
pub fn apply(sys_root: &Path, dev: &UsbDevice, d: &Decision) -> std::io::Result<()> {
    let dir = sys_root.join("bus/usb/devices").join(&dev.sysfs_name);
    match d {
        Decision::Allowed => {
            std::fs::write(dir.join("authorized"), "1")?;
            for i in &dev.interfaces {
                write_if_present(&dir.join(&i.sysfs_name).join("authorized"), "1")?;
            }
        }
        Decision::Partial(keep) => {
            // Interfaces the kernel already made and that are not allowed go to 0 first,
            // then the device to 1; the kernel then creates any missing interfaces
            // unauthorized, and they are read back to authorize the allowed ones.
            for i in &dev.interfaces {
                if !keep.contains(&type_of(i)) {
                    write_if_present(&dir.join(&i.sysfs_name).join("authorized"), "0")?;
                }
            }
            std::fs::write(dir.join("authorized"), "1")?;
            let now = bposhield_endpoint::device::read(sys_root, &dev.sysfs_name)
                .map_or_else(|_| dev.interfaces.clone(), |d| d.interfaces);
            for i in &now {
                let v = if keep.contains(&type_of(i)) { "1" } else { "0" };
                write_if_present(&dir.join(&i.sysfs_name).join("authorized"), v)?;
            }
        }
        Decision::Blocked => std::fs::write(dir.join("authorized"), "0")?,
        Decision::Rejected => {
            std::fs::write(dir.join("authorized"), "0")?;
            write_if_present(&dir.join("remove"), "1")?;
        }
    }
    Ok(())
}

fn write_if_present(path: &Path, v: &str) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(mut f) => std::io::Write::write_all(&mut f, v.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets every root hub's default so new devices (and interfaces) wait for the agent;
/// with `enforce` off, back to the kernel's default (authorize all).
///
/// # Errors
/// When sysfs cannot be read or written.
pub fn set_defaults(sys_root: &Path, enforce: bool) -> std::io::Result<usize> {
    let v = if enforce { "0" } else { "1" };
    let mut n = 0;
    for e in std::fs::read_dir(sys_root.join("bus/usb/devices"))? {
        let e = e?;
        let name = e.file_name();
        if name.to_str().is_some_and(|s| s.starts_with("usb")) {
            std::fs::write(e.path().join("authorized_default"), v)?;
            // interface_authorized_default: 1 = authorize interfaces by default.
            write_if_present(&e.path().join("interface_authorized_default"), if enforce { "0" } else { "1" })?;
            n += 1;
        }
    }
    Ok(n)
}

/// The device event for a judgement.
#[must_use]
pub fn event(dev: &UsbDevice, hash: &str, j: &Judgement) -> DeviceEvent {
    let blocked_interfaces = match &j.decision {
        Decision::Partial(keep) => {
            let mut t: Vec<(u8, u8, u8)> = dev.interface_types().into_iter().filter(|t| !keep.contains(t)).collect();
            t.dedup();
            t.into_iter().map(|(c, s, p)| format!("{c:02x}:{s:02x}:{p:02x}")).collect()
        }
        _ => Vec::new(),
    };
    let target = match j.decision {
        Decision::Allowed => Target::Allow,
        Decision::Rejected => Target::Reject,
        _ => Target::Block,
    };
    DeviceEvent {
        decision: j.decision.as_str().into(),
        device_rule: dev.to_rule(target).to_string(),
        device_hash: hash.into(),
        vendor_product: format!("{}:{}", dev.vendor_id, dev.product_id),
        name: dev.name.clone(),
        port: dev.via_port.clone(),
        interfaces: dev.interface_types().into_iter().map(|(c, s, p)| format!("{c:02x}:{s:02x}:{p:02x}")).collect(),
        blocked_interfaces,
        storage_like: storage_like(dev),
        reason: j.reason.clone(),
        exception_id: j.exception_id,
        offline_challenge: j.offline_challenge.clone(),
    }
}
