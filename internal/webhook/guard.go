package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress matches every refusal of the address guard.
var ErrForbiddenAddress = errors.New("forbidden webhook target address")

// AddressError says which address the guard refused and why.
type AddressError struct {
	Addr   netip.Addr
	Reason string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("webhook target address %s is %s: refused", e.Addr, e.Reason)
}

func (e *AddressError) Is(target error) bool { return target == ErrForbiddenAddress }

type forbiddenRange struct {
	prefix netip.Prefix
	reason string
}

const reasonLoopback = "loopback"

// forbiddenRanges are the addresses a customer-supplied URL must never reach:
// our own network, cloud metadata, and anything that is not a single public host.
// First match wins, so broadcast sits before the reserved block that contains it.
var forbiddenRanges = []forbiddenRange{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade nat"},
	{netip.MustParsePrefix("127.0.0.0/8"), reasonLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), reasonLoopback},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// IPv6 forms that carry an IPv4 address a translator or tunnel would
// reach for us: each is refused when the address it carries is.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052: last 32 bits
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215: bits 48-63 and 72-87 (RFC 6052 /48)
	compatible = netip.MustParsePrefix("::/96")          // deprecated IPv4-compatible ::a.b.c.d
	sixToFour  = netip.MustParsePrefix("2002::/16")      // RFC 3056: bits 16-47
	teredo     = netip.MustParsePrefix("2001::/32")      // RFC 4380: server bits 32-63, client bits 96-127 inverted
)

// embeddedIPv4 lists the IPv4 addresses an IPv6 address carries.
func embeddedIPv4(addr netip.Addr) []netip.Addr {
	if !addr.Is6() {
		return nil
	}
	b := addr.As16()
	v4 := func(a, b2, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b2, c, d}) }
	switch {
	case nat64.Contains(addr):
		return []netip.Addr{v4(b[12], b[13], b[14], b[15])}
	case nat64Local.Contains(addr):
		return []netip.Addr{v4(b[6], b[7], b[9], b[10])}
	case compatible.Contains(addr) && addr.Compare(netip.IPv6Loopback()) > 0:
		// :: and ::1 are themselves (unspecified, loopback), not IPv4.
		return []netip.Addr{v4(b[12], b[13], b[14], b[15])}
	case sixToFour.Contains(addr):
		return []netip.Addr{v4(b[2], b[3], b[4], b[5])}
	case teredo.Contains(addr):
		return []netip.Addr{v4(b[4], b[5], b[6], b[7]), v4(^b[12], ^b[13], ^b[14], ^b[15])}
	}
	return nil
}

// guard decides whether a resolved address may be dialed.
type guard struct {
	allowLoopback bool
	allow         []netip.Prefix
}

func (g guard) check(addr netip.Addr) error {
	if !addr.IsValid() {
		return &AddressError{Addr: addr, Reason: "invalid"}
	}
	addr = addr.Unmap().WithZone("")
	for _, v4 := range embeddedIPv4(addr) {
		if err := g.check(v4); err != nil {
			return err
		}
	}
	for _, p := range g.allow {
		if p.Contains(addr) {
			return nil
		}
	}
	for _, r := range forbiddenRanges {
		if !r.prefix.Contains(addr) {
			continue
		}
		if r.reason == reasonLoopback && g.allowLoopback {
			return nil
		}
		return &AddressError{Addr: addr, Reason: r.reason}
	}
	return nil
}

// control runs after the socket is created and before connect, on the
// address the resolver actually returned, so DNS rebinding cannot slip a
// private address past an earlier check.
func (g guard) control(_ context.Context, _ string, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &AddressError{Reason: "unparseable (" + address + ")"}
	}
	return g.check(ap.Addr())
}
