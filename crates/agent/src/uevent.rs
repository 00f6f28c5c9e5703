//! Kernel uevents: parsing the kernel's wire format and the two sources, the
//! `NETLINK_KOBJECT_UEVENT` socket and a Unix datagram socket carrying the same format
//! (tests and replays). Each source runs on its own thread and hands events to the
//! service through a channel, stamped with when they arrived.

use crate::config::UeventSource;
use std::time::Instant;
use tokio::sync::mpsc;

/// One uevent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    pub action: String,
    pub devpath: String,
    pub subsystem: String,
    pub devtype: String,
}

impl Uevent {
    /// Parses `action@devpath\0KEY=value\0…`. `None` for anything else (udev's own
    /// `libudev` messages, garbage).
    #[must_use]
    pub fn parse(msg: &[u8]) -> Option<Self> {
        let mut parts = msg.split(|&b| b == 0).filter(|p| !p.is_empty());
        let head = std::str::from_utf8(parts.next()?).ok()?;
        let (action, devpath) = head.split_once('@')?;
        let mut e =
            Self { action: action.into(), devpath: devpath.into(), subsystem: String::new(), devtype: String::new() };
        for p in parts {
            let Ok(p) = std::str::from_utf8(p) else { continue };
            match p.split_once('=') {
                Some(("ACTION", v)) => e.action = v.into(),
                Some(("DEVPATH", v)) => e.devpath = v.into(),
                Some(("SUBSYSTEM", v)) => e.subsystem = v.into(),
                Some(("DEVTYPE", v)) => e.devtype = v.into(),
                _ => {}
            }
        }
        Some(e)
    }

    /// The kernel's wire format of this event (for tests and replays).
    #[must_use]
    pub fn to_wire(&self) -> Vec<u8> {
        format!(
            "{}@{}\0ACTION={}\0DEVPATH={}\0SUBSYSTEM={}\0DEVTYPE={}\0",
            self.action, self.devpath, self.action, self.devpath, self.subsystem, self.devtype
        )
        .into_bytes()
    }

    /// The sysfs name of the device (`1-2.3`), the last component of its path.
    #[must_use]
    pub fn sysfs_name(&self) -> &str {
        self.devpath.rsplit('/').next().unwrap_or_default()
    }

    /// Whether this is a whole USB device being added (not an interface, not a removal).
    #[must_use]
    pub fn is_usb_device_add(&self) -> bool {
        self.action == "add" && self.subsystem == "usb" && self.devtype == "usb_device"
    }
}

/// Starts the source's thread; events arrive on the returned channel.
///
/// # Errors
/// When the socket cannot be opened or bound.
pub fn start(source: &UeventSource) -> anyhow::Result<mpsc::Receiver<(Uevent, Instant)>> {
    let (tx, rx) = mpsc::channel(1024);
    match source {
        UeventSource::None => {}
        UeventSource::Socket(path) => {
            let _ = std::fs::remove_file(path);
            let sock = std::os::unix::net::UnixDatagram::bind(path)
                .map_err(|e| anyhow::anyhow!("BPS-AGT-0010: cannot bind uevent socket {}: {e}", path.display()))?;
            std::thread::Builder::new().name("uevents".into()).spawn(move || {
                let mut buf = vec![0u8; 16 << 10];
                while let Ok(n) = sock.recv(&mut buf) {
                    let at = Instant::now();
                    if let Some(e) = Uevent::parse(&buf[..n]) {
                        if tx.blocking_send((e, at)).is_err() {
                            break;
                        }
                    }
                }
            })?;
        }
        UeventSource::Netlink => {
            use rustix::net::{bind, netlink, recvfrom, socket, AddressFamily, RecvFlags, SocketType};
            let fd = socket(AddressFamily::NETLINK, SocketType::DGRAM, Some(netlink::KOBJECT_UEVENT))
                .map_err(|e| anyhow::anyhow!("BPS-AGT-0010: cannot open the uevent netlink socket: {e}"))?;
            // Group 1: the kernel's own events (udev re-broadcasts on group 2).
            bind(&fd, &netlink::SocketAddrNetlink::new(0, 1))
                .map_err(|e| anyhow::anyhow!("BPS-AGT-0010: cannot join the kernel uevent group: {e}"))?;
            std::thread::Builder::new().name("uevents".into()).spawn(move || {
                let mut buf = vec![0u8; 16 << 10];
                while let Ok((n, _, from)) = recvfrom(&fd, &mut buf, RecvFlags::empty()) {
                    let at = Instant::now();
                    // Only the kernel (port id 0) speaks for devices: a message another
                    // process sent to the group (it takes CAP_NET_ADMIN) is ignored, as
                    // udev ignores it.
                    let from_kernel =
                        from.and_then(|a| netlink::SocketAddrNetlink::try_from(a).ok()).is_some_and(|a| a.pid() == 0);
                    if !from_kernel {
                        tracing::warn!("uevent not from the kernel ignored");
                        continue;
                    }
                    if let Some(e) = Uevent::parse(&buf[..n.min(buf.len())]) {
                        if tx.blocking_send((e, at)).is_err() {
                            break;
                        }
                    }
                }
            })?;
        }
    }
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The netlink source with real kernel uevents: as root, writing `change` to the
    /// loopback interface's `uevent` file makes the kernel announce it. Skipped where
    /// that is not allowed (not root, read-only /sys).
    #[tokio::test(flavor = "current_thread")]
    async fn netlink_source_receives_the_kernels_uevents_and_ignores_forged_ones() {
        let Ok(mut rx) = start(&UeventSource::Netlink) else {
            eprintln!("SKIP netlink test: no uevent netlink socket here");
            return;
        };
        // A forged event from a process, sent to the kernel's group (root only): ignored.
        {
            use rustix::net::{netlink, sendto, socket, AddressFamily, SendFlags, SocketType};
            if let Ok(fd) = socket(AddressFamily::NETLINK, SocketType::DGRAM, Some(netlink::KOBJECT_UEVENT)) {
                let forged = Uevent {
                    action: "add".into(),
                    devpath: "/devices/forged/9-9".into(),
                    subsystem: "usb".into(),
                    devtype: "usb_device".into(),
                };
                let sent = sendto(&fd, &forged.to_wire(), SendFlags::empty(), &netlink::SocketAddrNetlink::new(0, 1));
                eprintln!("forged uevent sent: {sent:?}");
            }
        }
        if std::fs::write("/sys/class/net/lo/uevent", "change").is_err() {
            eprintln!("SKIP netlink test: cannot trigger a kernel uevent (not root or /sys read-only)");
            return;
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                match rx.recv().await {
                    Some((e, _)) if e.devpath.ends_with("/net/lo") => return Some(e),
                    Some((e, _)) => assert!(!e.devpath.contains("forged"), "a forged uevent got through"),
                    None => return None,
                }
            }
        })
        .await;
        let e = got.ok().flatten().expect("the kernel's uevent for lo");
        assert_eq!((e.action.as_str(), e.subsystem.as_str()), ("change", "net"));
    }

    #[test]
    fn parses_the_kernel_format() {
        let msg = b"add@/devices/pci0000:00/0000:00:14.0/usb1/1-2\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-2\0SUBSYSTEM=usb\0MAJOR=189\0DEVTYPE=usb_device\0PRODUCT=781/5567/100\0SEQNUM=4242\0";
        let e = Uevent::parse(msg).unwrap();
        assert!(e.is_usb_device_add());
        assert_eq!(e.sysfs_name(), "1-2");
        assert_eq!(Uevent::parse(&e.to_wire()).unwrap(), e);
        let iface = Uevent { devtype: "usb_interface".into(), ..e.clone() };
        assert!(!iface.is_usb_device_add());
        assert_eq!(Uevent::parse(b"libudev\0\xfe\xed"), None);
        assert_eq!(Uevent::parse(b""), None);
    }
}
