//! Where outbound calls may go: the SSRF guard. Customers type in the URLs we call, so a URL
//! must not reach our own network: loopback, private ranges, link-local (the cloud metadata
//! address), CGNAT, multicast, reserved and unspecified addresses, in IPv4 and IPv6 (with the
//! IPv4 inside IPv4-mapped, 6to4 and NAT64 addresses checked too). A deployment may allow CIDRs
//! explicitly (the local stack allows 127.0.0.1/32 and nothing more).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A CIDR block such as `127.0.0.1/32` or `fd00::/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has a bad prefix length"))?,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The IP address a URL names literally (`http://10.0.0.7/`, `http://[::1]/`): it reaches no
/// resolver, so it must be checked on its own.
pub fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(v4.into()),
        url::Host::Ipv6(v6) => Some(v6.into()),
        url::Host::Domain(_) => None,
    }
}

/// The deployment's egress rules: everything public, plus the allowed blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    pub allow: Vec<Cidr>,
}

impl EgressPolicy {
    /// Public addresses only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// From a comma-separated CIDR list (`HOOKLINE_EGRESS_ALLOW_CIDRS`).
    pub fn from_list(list: &str) -> Result<Self, String> {
        let allow = list
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Cidr::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { allow })
    }

    /// Why a call to `ip` is refused, or `None` when it may go. An IPv6 address that carries
    /// the IPv4 address a connection reaches is judged as that address, by the allow list too.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.allow.iter().any(|c| c.contains(ip)) {
            return None;
        }
        forbidden(ip)
    }
}

/// The IPv4 address an IPv6 address stands for, where a connection to it reaches that
/// address: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`, RFC 2765)
/// and the well-known NAT64 prefix (`64:ff9b::a.b.c.d`, RFC 6052).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let carries = matches!(
        s[..6],
        [0, 0, 0, 0, 0, 0xffff] | [0, 0, 0, 0, 0xffff, 0] | [0x0064, 0xff9b, 0, 0, 0, 0]
    );
    carries.then(|| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "an unspecified address",
        (127, _, _) => "a loopback address",
        (10, _, _) | (192, 168, _) => "a private address",
        (172, b, _) if (16..32).contains(&b) => "a private address",
        (169, 254, _) => "a link-local address (the cloud metadata service lives there)",
        (100, b, _) if (64..128).contains(&b) => "a shared (CGNAT) address",
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a reserved address",
        (198, b, _) if b == 18 || b == 19 => "a reserved (benchmarking) address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved address",
        _ => return None,
    })
}

fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // IPv4-mapped, -translated and NAT64 addresses never get here: `refusal` judges them as
    // the IPv4 address they carry (`embedded_v4`).
    if s[0] == 0x2002 {
        return forbidden_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    // Local-use NAT64 (RFC 8215): where it embeds an IPv4 address depends on the network's
    // prefix length, so none of it is called.
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001 {
        return Some("a local-use NAT64 address");
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        return Some("a deprecated IPv4-compatible address");
    }
    Some(match s[0] {
        x if x & 0xfe00 == 0xfc00 => "a unique local (private) address",
        x if x & 0xffc0 == 0xfe80 => "a link-local address",
        x if x & 0xffc0 == 0xfec0 => "a site-local address",
        x if x & 0xff00 == 0xff00 => "a multicast address",
        0x2001 if s[1] == 0x0db8 => "a documentation address",
        0x2001 if s[1] < 0x0200 => "a reserved (IETF protocol) address",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard-only address",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        EgressPolicy::public_only()
            .refusal(ip.parse().unwrap())
            .is_some()
    }

    #[test]
    fn internal_addresses_are_refused_in_every_form() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "::ffff:0:10.0.0.1",
            "::ffff:0:169.254.169.254",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:ffff::8.8.8.8",
            "2001:db8::1",
            "::127.0.0.1",
            "100::1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "52.94.236.248",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "2002:0808:0808::",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(ip), "{ip} must pass");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_what_it_names() {
        let local = EgressPolicy::from_list("127.0.0.1/32").unwrap();
        assert_eq!(local.refusal("127.0.0.1".parse().unwrap()), None);
        assert!(
            local.refusal("127.0.0.2".parse().unwrap()).is_some(),
            "not all of 127/8"
        );
        assert!(local.refusal("::1".parse().unwrap()).is_some());
        // The same address written as IPv6 is judged the same, allow list included.
        assert_eq!(local.refusal("::ffff:127.0.0.1".parse().unwrap()), None);
        assert_eq!(local.refusal("64:ff9b::127.0.0.1".parse().unwrap()), None);
        assert!(local.refusal("::ffff:127.0.0.2".parse().unwrap()).is_some());
        let wide = EgressPolicy::from_list(" 10.1.0.0/16 , fd00::/8 ").unwrap();
        assert_eq!(wide.refusal("10.1.200.3".parse().unwrap()), None);
        assert!(wide.refusal("10.2.0.1".parse().unwrap()).is_some());
        assert_eq!(wide.refusal("fd00::5".parse().unwrap()), None);
        assert!(EgressPolicy::from_list("10.0.0.0/33").is_err());
        assert!(EgressPolicy::from_list("example.com").is_err());
        assert_eq!(
            EgressPolicy::from_list("").unwrap(),
            EgressPolicy::public_only()
        );
    }
}
