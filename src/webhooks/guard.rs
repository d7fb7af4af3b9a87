//! Where a target may point: `http` or `https` URLs whose host is not on the deny list, checked
//! when a target is written and again, on the resolved addresses, before every delivery (a name
//! may resolve elsewhere later).

use std::net::IpAddr;

/// One entry of the deny list: a network, or a host name (matched without case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    Network(IpAddr, u8),
    Host(String),
}

/// Parse the configured deny list; an entry that is not a network is a host name.
pub fn deny_list(entries: &[String]) -> Result<Vec<Denied>, String> {
    entries
        .iter()
        .map(|e| match e.split_once('/') {
            Some((ip, bits)) => {
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| format!("webhooks.deny: `{e}` is not a network"))?;
                let bits: u8 = bits
                    .parse()
                    .ok()
                    .filter(|b| *b <= if ip.is_ipv4() { 32 } else { 128 })
                    .ok_or_else(|| format!("webhooks.deny: `{e}` has no valid prefix length"))?;
                Ok(Denied::Network(ip, bits))
            }
            None => match e.parse::<IpAddr>() {
                Ok(ip) => Ok(Denied::Network(ip, if ip.is_ipv4() { 32 } else { 128 })),
                Err(_) => Ok(Denied::Host(e.to_ascii_lowercase())),
            },
        })
        .collect()
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The IPv4 address an IPv6 address carries, if it carries one: mapped (`::ffff:a.b.c.d`),
/// compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002:wwxx:yyzz::/16`).
fn embedded_v4(ip: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let bits = u128::from(ip);
    let low = std::net::Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if let Some(v4) = ip.to_ipv4() {
        return Some(v4);
    }
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return Some(low);
    }
    if bits >> 112 == 0x2002 {
        return Some(std::net::Ipv4Addr::from(
            ((bits >> 80) & 0xffff_ffff) as u32,
        ));
    }
    None
}

/// Whether the deny list names `ip`, or the IPv4 address an IPv6 address carries.
pub fn ip_denied(ip: IpAddr, deny: &[Denied]) -> bool {
    let mut forms = vec![ip];
    match ip {
        IpAddr::V6(v6) => forms.extend(embedded_v4(v6).map(IpAddr::V4)),
        IpAddr::V4(v4) => forms.push(IpAddr::V6(v4.to_ipv6_mapped())),
    }
    deny.iter().any(|d| match d {
        Denied::Network(net, bits) => forms.iter().any(|f| in_network(*f, *net, *bits)),
        Denied::Host(_) => false,
    })
}

/// A target's endpoint, checked: its scheme, host and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// Check an endpoint as written: an absolute `http`/`https` URL with a host the deny list
/// does not name (by name or, for a literal address, by network).
pub fn check_endpoint(url: &str, deny: &[Denied]) -> Result<Endpoint, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "endpoint is not a valid URL".to_string())?;
    let port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err("endpoint must be an http or https URL".into()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "endpoint has no host".to_string())?;
    if authority.as_str().contains('@') {
        return Err("endpoint must not carry credentials".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.is_empty() {
        return Err("endpoint has no host".into());
    }
    let named = deny
        .iter()
        .any(|d| matches!(d, Denied::Host(h) if *h == host || host.ends_with(&format!(".{h}"))));
    let literal_denied = host.parse::<IpAddr>().is_ok_and(|ip| ip_denied(ip, deny));
    if named || literal_denied {
        return Err(format!("endpoint host {host} is not allowed"));
    }
    Ok(Endpoint {
        host,
        port: authority.port_u16().unwrap_or(port),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<Denied> {
        deny_list(&crate::config::WebhooksConfig::default().deny).unwrap()
    }

    #[test]
    fn metadata_and_link_local_are_denied_and_loopback_is_not() {
        let deny = defaults();
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://metadata.google.internal/computeMetadata/v1",
            "http://[fe80::1]/x",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://metadata.google.internal./",
            "ftp://example.com/",
            "example.com/hook",
            "http://user:pw@example.com/",
        ] {
            assert!(check_endpoint(bad, &deny).is_err(), "{bad}");
        }
        let ok = check_endpoint("http://127.0.0.1:8080/hook", &deny).unwrap();
        assert_eq!((ok.host.as_str(), ok.port), ("127.0.0.1", 8080));
        assert_eq!(
            check_endpoint("https://hooks.example.com/a", &deny)
                .unwrap()
                .port,
            443
        );
        assert!(ip_denied("169.254.1.2".parse().unwrap(), &deny));
        assert!(!ip_denied("10.0.0.1".parse().unwrap(), &deny));
        assert!(deny_list(&["10.0.0.0/33".into()]).is_err());
    }
}
