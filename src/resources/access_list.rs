//! IP access-list entries compared by meaning: `203.0.113.7` and `203.0.113.7/32` are one
//! entry, IPv6 in any spelling is one address, and a block with host bits set
//! (`203.0.113.7/24`) is refused rather than silently widened or narrowed.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// One entry: a network address with its prefix length (full length for one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    network: IpAddr,
    prefix: u8,
}

impl Entry {
    /// Parses an address or CIDR block; the error says what is wrong in a user's words.
    pub fn parse(text: &str) -> Result<Entry, String> {
        let trimmed = text.trim();
        let (address, prefix) = match trimmed.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (trimmed, None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            format!("{text:?} is not an IPv4 or IPv6 address or CIDR block (like \"203.0.113.7\" or \"203.0.113.0/24\")")
        })?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => {
                    return Err(format!(
                        "{text:?} has an invalid prefix length: use 0 to {max}"
                    ))
                }
            },
        };
        let network = mask(address, prefix);
        if network != address {
            return Err(format!(
                "{text:?} has host bits set: the block it names is {}/{prefix}",
                network
            ));
        }
        Ok(Entry { network, prefix })
    }

    /// Whether this is one address rather than a block.
    pub fn is_address(&self) -> bool {
        self.prefix == if self.network.is_ipv4() { 32 } else { 128 }
    }

    /// The text to send to a vendor: the address alone, or the block.
    pub fn vendor_text(&self) -> String {
        if self.is_address() {
            self.network.to_string()
        } else {
            format!("{}/{}", self.network, self.prefix)
        }
    }
}

fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::from((bits & keep).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::from((bits & keep).to_be_bytes())
        }
    }
}

/// The entries of a list by meaning; texts that do not parse are left out (configuration
/// checks report them).
pub(crate) fn entries<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeSet<Entry> {
    texts
        .into_iter()
        .filter_map(|t| Entry::parse(t).ok())
        .collect()
}

/// Whether two lists hold the same entries by meaning.
pub(crate) fn same<'a>(
    a: impl IntoIterator<Item = &'a str>,
    b: impl IntoIterator<Item = &'a str>,
) -> bool {
    entries(a) == entries(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_compare_by_meaning() {
        assert!(same(["203.0.113.7"], ["203.0.113.7/32"]));
        assert!(same(
            ["2001:db8::1"],
            ["2001:db8:0:0:0:0:0:1", "2001:DB8::1/128"]
        ));
        assert!(same(
            ["10.0.0.0/8", "1.2.3.4"],
            ["1.2.3.4/32", "10.0.0.0/8"]
        ));
        assert!(!same(["10.0.0.0/8"], ["10.0.0.0/16"]));
        assert_eq!(
            Entry::parse("0.0.0.0/0").unwrap().vendor_text(),
            "0.0.0.0/0"
        );
        assert_eq!(
            Entry::parse("2001:db8:0:0::1").unwrap().vendor_text(),
            "2001:db8::1"
        );
    }

    #[test]
    fn bad_entries_say_why() {
        let host_bits = Entry::parse("203.0.113.7/24").unwrap_err();
        assert!(host_bits.contains("203.0.113.0/24"), "{host_bits}");
        assert!(Entry::parse("203.0.113.0/33")
            .unwrap_err()
            .contains("0 to 32"));
        assert!(Entry::parse("example.com").is_err());
        assert!(Entry::parse("1.2.3.4/").is_err());
        assert!(Entry::parse("::/129").is_err());
    }
}
