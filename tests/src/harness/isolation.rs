//! The check every peer test makes first: this process runs in a network namespace of its
//! own, holding only loopback (and the veths of the test's own topology), with no default
//! route. A packet sent to a foreign address from such a namespace dies inside it.

use std::fs;
use std::path::Path;

/// Name prefix of the veth interfaces that test topologies create. [`assert_isolated`]
/// accepts interfaces with this prefix besides `lo`.
pub const VETH_PREFIX: &str = "pt-";

const HOW_TO_RUN: &str = "run the tests through `make test` (or `scripts/test.sh`), which runs them \
     inside a network namespace that holds only loopback";

/// The name prefix for network namespaces a test creates for its own topology (NAT
/// scenarios): `palisade-t-<pid>-`, set by `scripts/test.sh`, whose exit trap deletes every
/// namespace with that prefix. Panics when not run by `scripts/test.sh`.
pub fn topology_netns_prefix() -> String {
    std::env::var("PALISADE_TEST_TOPO_PREFIX")
        .unwrap_or_else(|_| panic!("PALISADE_TEST_TOPO_PREFIX is not set; {HOW_TO_RUN}"))
}

/// An interface seen in `/sys/class/net`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Whether the interface is administratively up (`IFF_UP`).
    pub up: bool,
}

/// Panics unless the current process is in an isolated network namespace: no default route
/// (IPv4 or IPv6), and no interface that is up other than `lo` and the test topology's
/// veths (named with [`VETH_PREFIX`]).
pub fn assert_isolated() {
    if let Err(why) = check_current() {
        panic!("not in an isolated network namespace: {why}; {HOW_TO_RUN}");
    }
}

/// Whether the current process is in an isolated network namespace, with the reason when
/// it is not.
pub fn check_current() -> Result<(), String> {
    let route =
        fs::read_to_string("/proc/net/route").map_err(|e| format!("/proc/net/route: {e}"))?;
    // A kernel without IPv6 has no ipv6_route: nothing to check there.
    let route6 = fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    let ifaces = interfaces(Path::new("/sys/class/net"))?;
    check(&route, &route6, &ifaces)?;
    // Best effort: when PID 1's namespace is visible and is ours, we are in the machine's
    // (or the container's) main namespace.
    if let (Ok(own), Ok(init)) = (
        fs::read_link("/proc/self/ns/net"),
        fs::read_link("/proc/1/ns/net"),
    ) && own == init
    {
        return Err(format!(
            "this process shares the network namespace of PID 1 ({})",
            own.display()
        ));
    }
    Ok(())
}

/// Lists the interfaces under `sys_class_net` (normally `/sys/class/net`).
pub fn interfaces(sys_class_net: &Path) -> Result<Vec<Interface>, String> {
    let entries =
        fs::read_dir(sys_class_net).map_err(|e| format!("{}: {e}", sys_class_net.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", sys_class_net.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let flags = fs::read_to_string(entry.path().join("flags")).unwrap_or_default();
        let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
        out.push(Interface {
            name,
            up: flags & 1 != 0,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The isolation rules applied to the text of `/proc/net/route`, `/proc/net/ipv6_route` and
/// the interface list.
pub fn check(route: &str, route6: &str, ifaces: &[Interface]) -> Result<(), String> {
    let foreign: Vec<&str> = ifaces
        .iter()
        .filter(|i| i.up && i.name != "lo" && !i.name.starts_with(VETH_PREFIX))
        .map(|i| i.name.as_str())
        .collect();
    if !foreign.is_empty() {
        return Err(format!(
            "interfaces other than lo are up: {} (only lo and the test's own veths named \
             {VETH_PREFIX}* may be)",
            foreign.join(", ")
        ));
    }
    // IPv4: columns Iface Destination Gateway Flags RefCnt Use Metric Mask ...
    for line in route.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() >= 8 && cols[1] == "00000000" && cols[7] == "00000000" {
            return Err(format!("there is an IPv4 default route via {}", cols[0]));
        }
    }
    // IPv6: dest prefixlen src srcprefixlen nexthop metric refcnt use flags iface. The
    // kernel lists a reject entry for ::/0 on lo in every namespace: that one is harmless.
    const RTF_REJECT: u32 = 0x0200;
    for line in route6.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 10 {
            continue;
        }
        let default = cols[0].bytes().all(|b| b == b'0') && cols[1] == "00";
        let flags = u32::from_str_radix(cols[8], 16).unwrap_or(0);
        if default && flags & RTF_REJECT == 0 {
            return Err(format!("there is an IPv6 default route via {}", cols[9]));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE_HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
    const ROUTE6_NS: &str = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n\
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n";

    fn iface(name: &str, up: bool) -> Interface {
        Interface {
            name: name.into(),
            up,
        }
    }

    #[test]
    fn fresh_namespace_is_isolated() {
        assert_eq!(check(ROUTE_HEADER, ROUTE6_NS, &[iface("lo", true)]), Ok(()));
    }

    #[test]
    fn host_namespace_is_not() {
        let route =
            format!("{ROUTE_HEADER}eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
        let err = check(&route, ROUTE6_NS, &[iface("lo", true)]).unwrap_err();
        assert!(err.contains("IPv4 default route via eth0"), "{err}");
        let err = check(ROUTE_HEADER, "", &[iface("lo", true), iface("eth0", true)]).unwrap_err();
        assert!(err.contains("eth0"), "{err}");
    }

    #[test]
    fn veths_and_down_tunnels_are_allowed() {
        let ifaces = [
            iface("lo", true),
            iface("pt-a0", true),
            iface("sit0", false),
        ];
        assert_eq!(check(ROUTE_HEADER, ROUTE6_NS, &ifaces), Ok(()));
    }

    #[test]
    fn ipv6_default_route_is_refused() {
        let route6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n";
        let err = check(ROUTE_HEADER, route6, &[iface("lo", true)]).unwrap_err();
        assert!(err.contains("IPv6 default route via eth0"), "{err}");
    }
}
