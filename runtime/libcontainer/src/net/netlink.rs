//! A minimal rtnetlink client for `linux.netDevices`: move a link into another network
//! namespace (renaming it on the way), list its permanent global addresses, add them back,
//! and set it up. Messages are built by pure functions; `Route` sends them.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::syserror::SysError;

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
/// Flags RTM_NEWADDR takes back: nodad, optimistic, homeaddress, managetempaddr,
/// noprefixroute.
const IFA_F_SETTABLE: u32 = 0x02 | 0x04 | 0x10 | 0x100 | 0x200;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 0x1;

/// An address of a link, as RTM_NEWADDR wants it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAddr {
    pub family: u8,
    pub prefix_len: u8,
    pub local: Option<Vec<u8>>,
    pub address: Option<Vec<u8>>,
    pub broadcast: Option<Vec<u8>>,
    /// The IFA_F_* flags the address can be added back with.
    pub flags: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One message: header, fixed body, then attributes.
fn message(kind: u16, flags: u16, seq: u32, body: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut out = vec![0u8; NLMSG_HDR];
    out.extend_from_slice(body);
    out.resize(align4(out.len()), 0);
    for (kind, data) in attrs {
        out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(data);
        out.resize(align4(out.len()), 0);
    }
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_ne_bytes());
    out[4..6].copy_from_slice(&kind.to_ne_bytes());
    out[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
    out[8..12].copy_from_slice(&seq.to_ne_bytes());
    out
}

/// `struct ifinfomsg` for link `index`.
fn ifinfo(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// `struct ifaddrmsg`.
fn ifaddr(family: u8, prefix_len: u8, index: i32) -> [u8; 8] {
    let mut b = [family, prefix_len, 0, RT_SCOPE_UNIVERSE, 0, 0, 0, 0];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b
}

/// Moves link `index` into the namespace of `netns`, named `name` there.
pub fn move_request(seq: u32, index: i32, netns: i32, name: &str) -> Vec<u8> {
    let mut ifname = name.as_bytes().to_vec();
    ifname.push(0);
    message(RTM_NEWLINK, NLM_F_ACK, seq, &ifinfo(index, 0, 0), &[(IFLA_NET_NS_FD, &netns.to_ne_bytes()), (IFLA_IFNAME, &ifname)])
}

/// Sets link `index` up.
pub fn up_request(seq: u32, index: i32) -> Vec<u8> {
    message(RTM_NEWLINK, NLM_F_ACK, seq, &ifinfo(index, IFF_UP, IFF_UP), &[])
}

pub fn add_addr_request(seq: u32, index: i32, a: &LinkAddr) -> Vec<u8> {
    let mut attrs: Vec<(u16, &[u8])> = Vec::new();
    if let Some(l) = &a.local {
        attrs.push((IFA_LOCAL, l));
    }
    if let Some(ad) = &a.address {
        attrs.push((IFA_ADDRESS, ad));
    }
    if let Some(b) = &a.broadcast {
        attrs.push((IFA_BROADCAST, b));
    }
    let flags = a.flags.to_ne_bytes();
    if a.flags != 0 {
        attrs.push((IFA_FLAGS, &flags));
    }
    message(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, &ifaddr(a.family, a.prefix_len, index), &attrs)
}

/// The permanent addresses of global scope of link `index` in one RTM_NEWADDR message, if it
/// is one of that link's.
pub fn parse_addr(msg: &[u8], index: i32) -> Option<LinkAddr> {
    let body = msg.get(NLMSG_HDR..NLMSG_HDR + 8)?;
    let (family, prefix_len, mut flags, scope) = (body[0], body[1], u32::from(body[2]), body[3]);
    let ifindex = i32::from_ne_bytes(body[4..8].try_into().ok()?);
    if ifindex != index || scope != RT_SCOPE_UNIVERSE {
        return None;
    }
    let mut a = LinkAddr { family, prefix_len, local: None, address: None, broadcast: None, flags: 0 };
    let mut off = NLMSG_HDR + 8;
    while off + 4 <= msg.len() {
        let len = u16::from_ne_bytes([msg[off], msg[off + 1]]) as usize;
        let kind = u16::from_ne_bytes([msg[off + 2], msg[off + 3]]);
        let data = msg.get(off + 4..off + len.max(4))?;
        match kind {
            IFA_LOCAL => a.local = Some(data.to_vec()),
            IFA_ADDRESS => a.address = Some(data.to_vec()),
            IFA_BROADCAST => a.broadcast = Some(data.to_vec()),
            IFA_FLAGS if data.len() >= 4 => flags = u32::from_ne_bytes(data[..4].try_into().ok()?),
            _ => {}
        }
        off += align4(len.max(4));
    }
    a.flags = flags & IFA_F_SETTABLE;
    (flags & IFA_F_PERMANENT != 0).then_some(a)
}

/// A NETLINK_ROUTE socket in the network namespace it was made in.
pub struct Route {
    fd: OwnedFd,
    seq: u32,
}

impl Route {
    pub fn open() -> Result<Route, SysError> {
        // SAFETY: socket(2) with constant arguments; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if fd < 0 {
            return Err(SysError::new("open a netlink route socket", nix::Error::last()));
        }
        // SAFETY: fd is a new descriptor that nothing else owns.
        Ok(Route { fd: unsafe { OwnedFd::from_raw_fd(fd) }, seq: 0 })
    }

    fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    fn send(&self, msg: &[u8], what: &str) -> Result<(), SysError> {
        nix::sys::socket::send(self.fd.as_raw_fd(), msg, nix::sys::socket::MsgFlags::empty())
            .map(|_| ())
            .map_err(|e| SysError::new(format!("netlink: send {what}"), e))
    }

    /// Reads replies until the ack (or the end of a dump); gives each data message to `each`.
    fn replies(&self, what: &str, mut each: impl FnMut(&[u8])) -> Result<(), SysError> {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = nix::sys::socket::recv(self.fd.as_raw_fd(), &mut buf, nix::sys::socket::MsgFlags::empty())
                .map_err(|e| SysError::new(format!("netlink: receive the answer to {what}"), e))?;
            let mut off = 0;
            while off + NLMSG_HDR <= n {
                let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap_or_default()) as usize;
                let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                if len < NLMSG_HDR || off + len > n {
                    return Err(SysError::new(format!("netlink: malformed answer to {what}"), nix::Error::EBADMSG));
                }
                let msg = &buf[off..off + len];
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code = msg
                            .get(NLMSG_HDR..NLMSG_HDR + 4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(-libc::EBADMSG);
                        return if code == 0 {
                            Ok(())
                        } else {
                            Err(SysError::new(format!("netlink: {what}"), nix::Error::from_raw(-code)))
                        };
                    }
                    _ => each(msg),
                }
                off += align4(len);
            }
        }
    }

    fn call(&mut self, build: impl FnOnce(u32) -> Vec<u8>, what: &str) -> Result<(), SysError> {
        let msg = build(self.next());
        self.send(&msg, what)?;
        self.replies(what, |_| {})
    }

    /// The permanent global addresses of link `index`.
    pub fn addresses(&mut self, index: i32, name: &str) -> Result<Vec<LinkAddr>, SysError> {
        let what = format!("list the addresses of {name:?}");
        let msg = message(RTM_GETADDR, NLM_F_DUMP, self.next(), &[0u8; 8], &[]);
        self.send(&msg, &what)?;
        let mut out = Vec::new();
        self.replies(&what, |m| out.extend(parse_addr(m, index)))?;
        Ok(out)
    }

    pub fn move_link(&mut self, index: i32, netns: BorrowedFd, host_name: &str, name: &str) -> Result<(), SysError> {
        let what = format!("move {host_name:?} into the container's network namespace as {name:?}");
        self.call(|seq| move_request(seq, index, netns.as_raw_fd(), name), &what)
    }

    pub fn add_address(&mut self, index: i32, a: &LinkAddr, name: &str) -> Result<(), SysError> {
        self.call(|seq| add_addr_request(seq, index, a), &format!("add an address back to {name:?}"))
    }

    pub fn set_up(&mut self, index: i32, name: &str) -> Result<(), SysError> {
        self.call(|seq| up_request(seq, index), &format!("set {name:?} up"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_request_carries_the_namespace_fd_and_the_new_name() {
        let m = move_request(7, 12, 5, "eth1");
        // header 16 + ifinfomsg 16 + NET_NS_FD (8) + IFNAME "eth1\0" (4 + 5, padded to 12)
        assert_eq!(m.len(), 16 + 16 + 8 + 12);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWLINK);
        assert_eq!(u16::from_ne_bytes([m[6], m[7]]), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 7);
        assert_eq!(i32::from_ne_bytes(m[20..24].try_into().unwrap()), 12);
        assert_eq!(u16::from_ne_bytes([m[34], m[35]]), IFLA_NET_NS_FD);
        assert_eq!(i32::from_ne_bytes(m[36..40].try_into().unwrap()), 5);
        assert_eq!(u16::from_ne_bytes([m[40], m[41]]), 9);
        assert_eq!(&m[44..49], b"eth1\0");
    }

    #[test]
    fn addresses_round_trip_and_only_permanent_global_ones_count() {
        let a = LinkAddr {
            family: 2,
            prefix_len: 24,
            local: Some(vec![10, 0, 0, 1]),
            address: Some(vec![10, 0, 0, 1]),
            broadcast: Some(vec![10, 0, 0, 255]),
            flags: 0x02,
        };
        let mut m = add_addr_request(1, 3, &a);
        // As a dump reply: permanent flag in ifa_flags; IFA_FLAGS (last) says nodad too.
        m[18] = IFA_F_PERMANENT as u8;
        let n = m.len();
        m[n - 4..].copy_from_slice(&(IFA_F_PERMANENT | 0x02).to_ne_bytes());
        assert_eq!(parse_addr(&m, 3), Some(a.clone()));
        m[n - 4..].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(parse_addr(&m, 4), None, "another link's address");
        m[18] = 0;
        assert_eq!(parse_addr(&m, 3), None, "not permanent");
        m[n - 4..].copy_from_slice(&IFA_F_PERMANENT.to_ne_bytes());
        m[18] = IFA_F_PERMANENT as u8;
        assert!(parse_addr(&m, 3).is_some());
        m[19] = 200; // RT_SCOPE_LINK
        assert_eq!(parse_addr(&m, 3), None, "not of global scope");
    }
}
