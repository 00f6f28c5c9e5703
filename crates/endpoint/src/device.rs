//! USB devices read from sysfs, as USBGuard 1.x's Linux backend reads them
//! (`UEventDeviceManager`, `UEventDevice`, `SysFSDevice`), and their
//! USBGuard-compatible hash.
//!
//! # What the reader needs under the sysfs root
//!
//! `<root>/bus/usb/devices/<name>` is a symlink to the device directory (as the
//! kernel makes it, e.g. `../../../devices/pci0000:00/0000:00:14.0/usb1/1-2`) or
//! the directory itself. The resolved path must stay inside the root; the part
//! after the root is the device's sysfs path (`/devices/…/usb1/1-2`), whose last
//! component is the port (`via-port`). In the device directory:
//!
//! - `uevent` with `DEVTYPE=usb_device` (or no `DEVTYPE` but a `descriptors` file);
//! - `idVendor`, `idProduct`, `authorized`, `descriptors` (binary) — required;
//! - `product`, `manufacturer`, `serial`, `port/connect_type` — optional (empty
//!   when absent);
//! - interface directories `<name>:<config>.<interface>` with `bInterfaceClass`,
//!   `bInterfaceSubClass`, `bInterfaceProtocol` (hex), optional `interface` (the
//!   interface string) and `authorized`.
//!
//! The parent directory must have a `uevent` too. When it says
//! `DEVTYPE=usb_device`, the parent is a USB device and `parent-hash` is its hash;
//! otherwise (a root hub under its PCI controller) `parent-hash` is the hash of
//! the parent's sysfs path, as USBGuard does.
//!
//! Attribute files are read like `SysFSDevice::readAttribute`: at most 4096 bytes,
//! trailing NUL, `\n`, `\r`, `\t` and `\b` removed. Text is taken as UTF-8 (the
//! kernel writes USB strings to sysfs as UTF-8; invalid bytes would be replaced).
//!
//! # The hash
//!
//! USBGuard 1.x (`DevicePrivate::initializeHash`, `UEventDevice::parseUSBDescriptor`,
//! `Hash`, `Base64`): SHA-256 over the product name, the vendor id and the product
//! id as sysfs shows them (4 lowercase hex digits), the serial number — each
//! string's bytes, no separators — followed by every descriptor of the
//! `descriptors` file, in file order, each as its `bLength` bytes. For a Linux root
//! hub's device descriptor (vendor 1d6b, product 0001/0002/0003) `bcdDevice` (bytes
//! 12–13, the kernel version) is zeroed first, so the hash survives kernel
//! updates. The digest is printed in standard base64 with padding.
//!
//! Checked against USBGuard's own test data (`src/Tests/UseCase/devices.umockdev`:
//! `17ef:305a` hashes to `2y2qS3rcuMr1Ye5knWsbD8CGzPtrs+eiRR/haro7+Ng=` and `047d:2048`
//! to `D3deklX12Ir3kJPfUZ5AQNwHeZn1bwtPkQkw6e+8B38=` in its test script) and
//! against `usbguard generate-policy` run on the test fixtures
//! (`tests/fixtures/sysfs`).
//!
//! The `descriptors` file is checked as USBGuard's `USBDescriptorParser` does; a
//! device whose descriptors it would refuse (truncated, wrong sizes, an interface
//! outside a configuration, …) is refused here too ([`DeviceError::Descriptors`]).

use crate::rules::{Attribute, DeviceView, InterfaceType, Rule, SetOperator, Target};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// One interface of the active configuration, from its sysfs directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbInterface {
    /// E.g. `1-2:1.0`.
    pub sysfs_name: String,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    /// The interface string (`interface` file, e.g. `MTP`), empty when absent.
    pub name: String,
    /// The interface's `authorized` file, when the kernel has one.
    pub authorized: Option<bool>,
}

impl UsbInterface {
    /// `cc:ss:pp`, as in rules.
    #[must_use]
    pub fn type_string(&self) -> String {
        format!("{:02x}:{:02x}:{:02x}", self.class, self.subclass, self.protocol)
    }
}

/// A USB device as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDevice {
    /// The bus name, e.g. `1-2` or `usb1`; also USBGuard's `via-port`.
    pub sysfs_name: String,
    /// The device's path below the sysfs root, e.g.
    /// `/devices/pci0000:00/0000:00:14.0/usb1/1-2`.
    pub sysfs_path: String,
    /// `idVendor` as sysfs shows it (4 lowercase hex digits).
    pub vendor_id: String,
    /// `idProduct` as sysfs shows it.
    pub product_id: String,
    /// `product`, empty when absent.
    pub name: String,
    /// `manufacturer`, empty when absent.
    pub manufacturer: String,
    /// `serial`, empty when absent.
    pub serial: String,
    /// The interfaces of the active configuration (sysfs directories), ordered by
    /// configuration and interface number. Rules match the interface list of the
    /// descriptors instead, see [`UsbDevice::interface_types`].
    pub interfaces: Vec<UsbInterface>,
    /// The port, USBGuard's `via-port`: the sysfs name.
    pub via_port: String,
    /// `port/connect_type` as read (`hotplug`, `hardwired`, `not used`, `unknown`),
    /// empty when absent (root hubs).
    pub connect_type: String,
    /// The raw `descriptors` file.
    pub descriptors: Vec<u8>,
    /// The parent's sysfs name when the parent is a USB device (a hub).
    pub parent: Option<String>,
    /// USBGuard's `parent-hash`: the parent device's hash, or for a root hub the
    /// hash of its parent's sysfs path.
    pub parent_hash: String,
    /// `authorized` is `1` (anything else counts as blocked, as in USBGuard).
    pub authorized: bool,
}

/// Why a device could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The name is not a plain sysfs name (empty, `.`, `..` or with a `/`).
    #[error("invalid USB device name {0:?}")]
    InvalidName(String),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The entry resolves outside the sysfs root.
    #[error("{} is outside the sysfs root", .0.display())]
    OutsideRoot(PathBuf),
    /// The entry is not a USB device (an interface, a port, …).
    #[error("{0} is not a USB device")]
    NotUsbDevice(String),
    /// An attribute has a value USBGuard would refuse.
    #[error("{device}: bad {attribute} {value:?}")]
    BadAttribute { device: String, attribute: &'static str, value: String },
    /// The descriptors file would be refused by USBGuard's descriptor parser.
    #[error("{device}: bad USB descriptors: {reason}")]
    Descriptors { device: String, reason: String },
}

/// Reads the device `<sys_root>/bus/usb/devices/<sysfs_name>` (and its parent, for
/// the parent hash).
///
/// # Errors
/// When the name is not a USB device under the root, a required file is missing,
/// or an attribute or the descriptors would be refused by USBGuard.
pub fn read(sys_root: &Path, sysfs_name: &str) -> Result<UsbDevice, DeviceError> {
    if sysfs_name.is_empty() || sysfs_name == "." || sysfs_name == ".." || sysfs_name.contains('/') {
        return Err(DeviceError::InvalidName(sysfs_name.to_owned()));
    }
    let root = canonical(sys_root)?;
    let real = canonical(&sys_root.join("bus/usb/devices").join(sysfs_name))?;
    let rel = real.strip_prefix(&root).map_err(|_| DeviceError::OutsideRoot(real.clone()))?;
    let sysfs_path = format!("/{}", rel.to_string_lossy());
    read_at(&root, &sysfs_path, true)
}

/// The names under `<sys_root>/bus/usb/devices` that are USB devices (not
/// interfaces), in USBGuard's enumeration order: root hubs first, then shorter
/// names, then by name.
///
/// # Errors
/// When the directory cannot be read.
pub fn enumerate(sys_root: &Path) -> Result<Vec<String>, DeviceError> {
    let dir = sys_root.join("bus/usb/devices");
    let io = |source| DeviceError::Io { path: dir.clone(), source };
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name().to_string_lossy().into_owned();
        if !name.contains(':') && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort_by(|a, b| {
        (!a.starts_with("usb"), a.len(), a.as_str()).cmp(&(!b.starts_with("usb"), b.len(), b.as_str()))
    });
    Ok(names)
}

/// Every readable USB device, in [`enumerate`] order. Like USBGuard's enumeration,
/// an entry that cannot be read (it vanished, is not a USB device, or has
/// descriptors USBGuard would refuse) is left out; use [`enumerate`] and [`read`]
/// to see why.
///
/// # Errors
/// When `<sys_root>/bus/usb/devices` cannot be read.
pub fn list(sys_root: &Path) -> Result<Vec<UsbDevice>, DeviceError> {
    Ok(enumerate(sys_root)?.into_iter().filter_map(|name| read(sys_root, &name).ok()).collect())
}

/// What `usbguard generate-policy` prints for these devices (without `-p`: a
/// `via-port` only for devices without a serial number; with `with_ports`: for
/// every device).
#[must_use]
pub fn generate_policy(devices: &[UsbDevice], target: Target, with_ports: bool) -> Vec<Rule> {
    devices.iter().map(|d| d.to_rule_with(target, with_ports || d.serial.is_empty())).collect()
}

impl UsbDevice {
    /// USBGuard's device hash (see the module documentation).
    #[must_use]
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for field in [&self.name, &self.vendor_id, &self.product_id, &self.serial] {
            h.update(field.as_bytes());
        }
        // Stops at the first descriptor USBGuard would refuse; `read` refuses such
        // devices, so for a device from `read` every byte is covered.
        let _ = walk_descriptors(&self.descriptors, |d| {
            if is_linux_root_hub(d) {
                let mut patched = d.to_vec();
                patched[12] = 0;
                patched[13] = 0;
                h.update(&patched);
            } else {
                h.update(d);
            }
        });
        B64.encode(h.finalize())
    }

    /// The interface types as USBGuard lists them for `with-interface`: every
    /// interface descriptor in the `descriptors` file, alternate settings and other
    /// configurations included (an audio streaming interface with two alternate
    /// settings appears twice).
    #[must_use]
    pub fn interface_types(&self) -> Vec<(u8, u8, u8)> {
        walk_descriptors(&self.descriptors, |_| {}).unwrap_or_default()
    }

    /// A root hub: named `usbN` with a single hub interface (USBGuard's
    /// `isController`).
    #[must_use]
    pub fn is_root_hub(&self) -> bool {
        self.sysfs_name.starts_with("usb") && matches!(self.interface_types()[..], [(0x09, 0x00, _)])
    }

    /// The attributes rules are matched against. With `Some(i)`, the device as if
    /// it had only its `i`-th sysfs interface (to judge interfaces one by one).
    #[must_use]
    pub fn view(&self, interface: Option<usize>) -> DeviceView {
        let interfaces = match interface {
            None => self.interface_types(),
            Some(i) => self.interfaces.get(i).map(|i| vec![(i.class, i.subclass, i.protocol)]).unwrap_or_default(),
        };
        DeviceView {
            vendor_id: self.vendor_id.clone(),
            product_id: self.product_id.clone(),
            name: self.name.clone(),
            serial: self.serial.clone(),
            hash: self.hash(),
            parent_hash: self.parent_hash.clone(),
            via_port: self.via_port.clone(),
            interfaces,
            connect_type: self.connect_type.clone(),
        }
    }

    /// The device as a rule, like `usbguard generate-policy -p` and `usbguard
    /// list-devices` print it: `id`, `serial`, `name`, `hash`, `parent-hash`,
    /// `via-port`, `with-interface`, `with-connect-type`.
    #[must_use]
    pub fn to_rule(&self, target: Target) -> Rule {
        self.to_rule_with(target, true)
    }

    /// [`to_rule`](Self::to_rule), with or without `via-port`.
    #[must_use]
    pub fn to_rule_with(&self, target: Target, with_port: bool) -> Rule {
        let s = |v: &str| Attribute::single(v.as_bytes().to_vec());
        let mut rule = Rule::new(target);
        // sysfs ids are 4 hex digits; anything else cannot be a rule id.
        if let Ok(id) = crate::rules::DeviceId::new(&self.vendor_id, &self.product_id) {
            rule.id = Attribute::single(id);
        }
        rule.serial = s(&self.serial);
        rule.name = s(&self.name);
        rule.hash = s(&self.hash());
        rule.parent_hash = s(&self.parent_hash);
        if with_port {
            rule.via_port = s(&self.via_port);
        }
        let types = self.interface_types().into_iter().map(|(c, sc, p)| InterfaceType::exact(c, sc, p)).collect();
        rule.with_interface = Attribute::new(SetOperator::Equals, types);
        rule.with_connect_type = s(&self.connect_type);
        rule
    }
}

impl From<&UsbDevice> for DeviceView {
    fn from(dev: &UsbDevice) -> Self {
        dev.view(None)
    }
}

fn canonical(p: &Path) -> Result<PathBuf, DeviceError> {
    fs::canonicalize(p).map_err(|source| DeviceError::Io { path: p.to_path_buf(), source })
}

/// `SysFSDevice::readAttribute`: `None` when the file does not exist.
fn attribute(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, DeviceError> {
    let path = dir.join(name);
    let mut f = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(DeviceError::Io { path, source }),
    };
    let mut buf = Vec::new();
    f.by_ref().take(4096).read_to_end(&mut buf).map_err(|source| DeviceError::Io { path, source })?;
    while buf.last().is_some_and(|c| matches!(c, b'\0' | b'\n' | b'\r' | b'\t' | 0x08)) {
        buf.pop();
    }
    Ok(Some(buf))
}

fn text(dir: &Path, name: &str) -> Result<String, DeviceError> {
    Ok(attribute(dir, name)?.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default())
}

fn required(dir: &Path, name: &str) -> Result<String, DeviceError> {
    match attribute(dir, name)? {
        Some(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        None => Err(DeviceError::Io { path: dir.join(name), source: std::io::ErrorKind::NotFound.into() }),
    }
}

/// `DEVTYPE` from the `uevent` file (which must exist).
fn devtype(dir: &Path) -> Result<Option<String>, DeviceError> {
    let uevent = required(dir, "uevent")?;
    Ok(uevent.lines().find_map(|l| l.strip_prefix("DEVTYPE=")).map(str::to_owned))
}

fn read_at(root: &Path, sysfs_path: &str, with_parent: bool) -> Result<UsbDevice, DeviceError> {
    let dir = root.join(sysfs_path.trim_start_matches('/'));
    let sysfs_name = sysfs_path.rsplit('/').next().unwrap_or_default().to_owned();
    match devtype(&dir)? {
        Some(t) if t == "usb_device" => {}
        None if dir.join("descriptors").is_file() => {}
        _ => return Err(DeviceError::NotUsbDevice(sysfs_name)),
    }

    let bad = |attribute, value: &str| DeviceError::BadAttribute {
        device: sysfs_name.clone(),
        attribute,
        value: value.to_owned(),
    };
    let vendor_id = required(&dir, "idVendor")?;
    let product_id = required(&dir, "idProduct")?;
    // USBDeviceID::checkDeviceID.
    if vendor_id.is_empty() || vendor_id.len() > 4 {
        return Err(bad("idVendor", &vendor_id));
    }
    if product_id.is_empty() || product_id.len() > 4 {
        return Err(bad("idProduct", &product_id));
    }

    let descriptors = {
        let path = dir.join("descriptors");
        fs::read(&path).map_err(|source| DeviceError::Io { path, source })?
    };
    walk_descriptors(&descriptors, |_| {})
        .map_err(|reason| DeviceError::Descriptors { device: sysfs_name.clone(), reason })?;

    // The parent of the parent is not needed (USBGuard looks the parent device up
    // among the devices it already knows).
    let (parent, parent_hash) = if with_parent { parent_of(root, sysfs_path)? } else { (None, String::new()) };

    Ok(UsbDevice {
        interfaces: interfaces(&dir, &sysfs_name)?,
        vendor_id,
        product_id,
        name: text(&dir, "product")?,
        manufacturer: text(&dir, "manufacturer")?,
        serial: text(&dir, "serial")?,
        via_port: sysfs_name.clone(),
        connect_type: text(&dir, "port/connect_type")?,
        authorized: required(&dir, "authorized")? == "1",
        descriptors,
        parent,
        parent_hash,
        sysfs_path: sysfs_path.to_owned(),
        sysfs_name,
    })
}

/// The parent's name when it is a USB device, and the parent hash.
fn parent_of(root: &Path, sysfs_path: &str) -> Result<(Option<String>, String), DeviceError> {
    let parent_path = sysfs_path.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
    let parent_dir = root.join(parent_path.trim_start_matches('/'));
    if devtype(&parent_dir)?.as_deref() == Some("usb_device") {
        let parent = read_at(root, parent_path, false)?;
        Ok((Some(parent.sysfs_name.clone()), parent.hash()))
    } else {
        Ok((None, B64.encode(Sha256::digest(parent_path.as_bytes()))))
    }
}

/// The interface directories `<name>:<config>.<interface>` (for root hub `usbN`,
/// `N-0:<config>.<interface>`).
fn interfaces(dir: &Path, sysfs_name: &str) -> Result<Vec<UsbInterface>, DeviceError> {
    let io = |source| DeviceError::Io { path: dir.to_path_buf(), source };
    let prefix = match sysfs_name.strip_prefix("usb") {
        Some(bus) => format!("{bus}-0:"),
        None => format!("{sysfs_name}:"),
    };
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((config, number)) = name.strip_prefix(&prefix).and_then(|r| r.split_once('.')) else {
            continue;
        };
        let (Ok(config), Ok(number)) = (config.parse::<u32>(), number.parse::<u32>()) else {
            continue;
        };
        let idir = entry.path();
        let byte = |attr: &'static str| -> Result<u8, DeviceError> {
            let v = required(&idir, attr)?;
            u8::from_str_radix(v.trim(), 16).map_err(|_| DeviceError::BadAttribute {
                device: name.clone(),
                attribute: attr,
                value: v.clone(),
            })
        };
        let iface = UsbInterface {
            class: byte("bInterfaceClass")?,
            subclass: byte("bInterfaceSubClass")?,
            protocol: byte("bInterfaceProtocol")?,
            name: text(&idir, "interface")?,
            authorized: attribute(&idir, "authorized")?.map(|v| v == b"1"),
            sysfs_name: name,
        };
        found.push(((config, number), iface));
    }
    found.sort_by_key(|(k, _)| *k);
    Ok(found.into_iter().map(|(_, i)| i).collect())
}

const DEVICE: u8 = 1;
const CONFIGURATION: u8 = 2;
const INTERFACE: u8 = 4;
const ENDPOINT: u8 = 5;

/// `USBDescriptorParser::parse` with USBGuard's descriptor hooks: calls `visit`
/// with each descriptor's bytes (in the order USBGuard hashes them) and returns
/// the interface types. `Err` where USBGuard throws.
fn walk_descriptors(data: &[u8], mut visit: impl FnMut(&[u8])) -> Result<Vec<(u8, u8, u8)>, String> {
    let mut types = Vec::new();
    let (mut have_device, mut have_config, mut have_interface) = (false, false, false);
    let mut pos = 0;
    while pos < data.len() {
        let (Some(&len), Some(&kind)) = (data.get(pos), data.get(pos + 1)) else {
            return Err("partial descriptor header".into());
        };
        let len = usize::from(len);
        if len < 2 {
            return Err(format!("bLength {len} at byte {pos} is less than the header"));
        }
        let Some(d) = data.get(pos..pos + len) else {
            return Err(format!("bLength {len} at byte {pos} runs past the end"));
        };
        let size_ok = match kind {
            DEVICE => len == 18,
            CONFIGURATION | INTERFACE => len == 9,
            ENDPOINT => len == 7 || len == 9,
            _ => true,
        };
        if !size_ok {
            return Err(format!("descriptor type {kind} with unexpected size {len} at byte {pos}"));
        }
        visit(d);
        match kind {
            DEVICE if have_device => return Err("multiple device descriptors".into()),
            DEVICE => types.clear(),
            CONFIGURATION if !have_device => return Err("configuration before the device descriptor".into()),
            CONFIGURATION => have_interface = false,
            INTERFACE if !have_config => return Err("interface outside a configuration".into()),
            INTERFACE => types.push((d[5], d[6], d[7])),
            ENDPOINT if !have_interface => return Err("endpoint outside an interface".into()),
            _ => {}
        }
        match kind {
            DEVICE => have_device = true,
            CONFIGURATION => have_config = true,
            INTERFACE => have_interface = true,
            _ => {}
        }
        pos += len;
    }
    if pos < 18 {
        return Err("less data than a device descriptor".into());
    }
    Ok(types)
}

/// `UEventDevice::isLinuxRootHubDeviceDescriptor`.
fn is_linux_root_hub(d: &[u8]) -> bool {
    d.len() == 18
        && d[1] == DEVICE
        && u16::from_le_bytes([d[8], d[9]]) == 0x1d6b
        && matches!(u16::from_le_bytes([d[10], d[11]]), 1..=3)
}
