package webhook

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// refusedQuickly is far below any TCP connect timeout: a refusal this fast
// was decided before a SYN could have gone unanswered.
const refusedQuickly = 500 * time.Millisecond

var testSecrets = []string{"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}

func TestGuardCheck(t *testing.T) {
	t.Parallel()

	tests := []struct {
		addr          string
		allowLoopback bool
		allow         []string
		wantReason    string // "" means allowed
	}{
		{addr: "93.184.216.34"},
		{addr: "2606:2800:220:1:248:1893:25c8:1946"},
		{addr: "0.0.0.0", wantReason: "unspecified"},
		{addr: "::", wantReason: "unspecified"},
		{addr: "10.0.0.1", wantReason: "private"},
		{addr: "172.16.0.1", wantReason: "private"},
		{addr: "172.31.255.255", wantReason: "private"},
		{addr: "172.32.0.1"},
		{addr: "192.168.1.1", wantReason: "private"},
		{addr: "fd00::1", wantReason: "private"},
		{addr: "169.254.169.254", wantReason: "link-local"},
		{addr: "fe80::1", wantReason: "link-local"},
		{addr: "fe80::1%eth0", wantReason: "link-local"},
		{addr: "100.64.0.1", wantReason: "carrier-grade nat"},
		{addr: "100.127.255.255", wantReason: "carrier-grade nat"},
		{addr: "224.0.0.1", wantReason: "multicast"},
		{addr: "ff02::1", wantReason: "multicast"},
		{addr: "255.255.255.255", wantReason: "broadcast"},
		{addr: "240.0.0.1", wantReason: "reserved"},
		{addr: "127.0.0.1", wantReason: "loopback"},
		{addr: "127.1.2.3", wantReason: "loopback"},
		{addr: "::1", wantReason: "loopback"},
		{addr: "127.0.0.1", allowLoopback: true},
		{addr: "::1", allowLoopback: true},
		{addr: "10.0.0.1", allowLoopback: true, wantReason: "private"},
		{addr: "::ffff:10.0.0.1", wantReason: "private"},
		{addr: "::ffff:169.254.169.254", wantReason: "link-local"},
		{addr: "64:ff9b::a9fe:a9fe", wantReason: "link-local"}, // NAT64 of 169.254.169.254
		{addr: "64:ff9b::5db8:d822"},                           // NAT64 of a public address
		// IPv4 carried inside IPv6 (issue 15).
		{addr: "64:ff9b:1:a9fe:a9:fe00::", wantReason: "link-local"}, // local-use NAT64 /48 of 169.254.169.254
		{addr: "64:ff9b:1:a00:1:100::", wantReason: "private"},       // local-use NAT64 /48 of 10.0.0.1
		{addr: "64:ff9b:1:5db8:d8:2200::"},                           // local-use NAT64 /48 of a public address
		{addr: "::10.0.0.1", wantReason: "private"},                  // IPv4-compatible
		{addr: "::127.0.0.1", wantReason: "loopback"},
		{addr: "::169.254.169.254", wantReason: "link-local"},
		{addr: "::93.184.216.34"},
		{addr: "2002:a00:1::1", wantReason: "private"},               // 6to4 of 10.0.0.1
		{addr: "2002:a9fe:a9fe::1", wantReason: "link-local"},        // 6to4 of 169.254.169.254
		{addr: "2002:5db8:d822::1"},                                  // 6to4 of a public address
		{addr: "2001:0:5db8:d822::f5ff:fffe", wantReason: "private"}, // Teredo, client 10.0.0.1 (inverted)
		{addr: "2001:0:7f00:1::1", wantReason: "loopback"},           // Teredo, server 127.0.0.1
		{addr: "2001:0:5db8:d822::a247:27dd"},                        // Teredo between public addresses
		{addr: "2001:db8::1"},                                        // not Teredo (2001:db8::/32)
		{addr: "10.1.2.3", allow: []string{"10.1.0.0/16"}},
		{addr: "10.2.0.1", allow: []string{"10.1.0.0/16"}, wantReason: "private"},
		{addr: "127.0.0.1", allow: []string{"127.0.0.0/8"}},
		{addr: "::ffff:10.1.2.3", allow: []string{"10.1.0.0/16"}},
	}
	for _, tt := range tests {
		t.Run(tt.addr+" "+strconv.FormatBool(tt.allowLoopback), func(t *testing.T) {
			t.Parallel()
			g := guard{allowLoopback: tt.allowLoopback}
			for _, p := range tt.allow {
				g.allow = append(g.allow, netip.MustParsePrefix(p))
			}
			err := g.check(netip.MustParseAddr(tt.addr))
			if tt.wantReason == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrForbiddenAddress)
			addrErr, ok := err.(*AddressError)
			require.True(t, ok)
			require.Equal(t, tt.wantReason, addrErr.Reason)
		})
	}
}

// TestDialRefusesForbiddenAddresses drives the transport's dialer directly:
// the address it checks is the resolved one, so a hostname that resolves
// (or rebinds) to these addresses meets the same refusal.
func TestDialRefusesForbiddenAddresses(t *testing.T) {
	t.Parallel()

	dial := NewSender(Options{AllowInsecure: true}).client.Transport.(*http.Transport).DialContext
	for _, addr := range []string{"10.0.0.1:443", "169.254.169.254:80", "192.168.0.1:443", "100.64.0.1:443", "0.0.0.0:80"} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			conn, err := dial(context.Background(), "tcp", addr)
			if conn != nil {
				_ = conn.Close()
			}
			require.ErrorIs(t, err, ErrForbiddenAddress)
			require.Less(t, time.Since(start), refusedQuickly)
		})
	}
}

// countingListener counts accepted connections on 127.0.0.1.
func countingListener(t *testing.T) (addr string, accepts func() int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	return ln.Addr().String(), n.Load
}

// settledAccepts connects once more and waits for that connection: the
// backlog is FIFO, so any connection the sender made was accepted before it.
func settledAccepts(t *testing.T, addr string, accepts func() int64) int64 {
	t.Helper()
	before := accepts()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_ = c.Close()
	require.Eventually(t, func() bool { return accepts() > before }, time.Second, time.Millisecond)
	return accepts() - 1
}

func TestSendRefusesLoopbackWithoutConnecting(t *testing.T) {
	t.Parallel()

	addr, accepts := countingListener(t)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	s := NewSender(Options{})

	for _, target := range []string{
		"https://localhost:" + port + "/hook", // resolved, refused at dial time
		"https://" + addr + "/hook",           // IP literal, refused before dialing
	} {
		start := time.Now()
		res := s.Send(context.Background(), Delivery{URL: target, MsgID: "msg_1", Body: []byte(`{}`), Secrets: testSecrets})
		require.ErrorIs(t, res.Err, ErrForbiddenAddress, target)
		require.Less(t, time.Since(start), refusedQuickly)
		require.False(t, res.Retryable())
		require.False(t, res.Delivered())
	}
	require.Zero(t, settledAccepts(t, addr, accepts))
}

func TestSendRefusesPrivateLiterals(t *testing.T) {
	t.Parallel()

	s := NewSender(Options{AllowInsecure: true})
	for _, target := range []string{
		"http://10.0.0.1/hook",
		"http://169.254.169.254/latest/meta-data/",
		"https://[::ffff:10.0.0.1]/hook",
		"https://[fd00::1]:8443/hook",
	} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			res := s.Send(context.Background(), Delivery{URL: target, MsgID: "msg_1", Body: []byte(`{}`), Secrets: testSecrets})
			require.ErrorIs(t, res.Err, ErrForbiddenAddress)
			require.Less(t, time.Since(start), refusedQuickly)
			require.False(t, res.Retryable())
			require.ErrorIs(t, s.CheckURL(target), ErrForbiddenAddress)
		})
	}
}

func TestSendAllowCIDRsOverTLS(t *testing.T) {
	t.Parallel()

	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)

	s := NewSender(Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	s.client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig

	res := s.Send(context.Background(), Delivery{URL: srv.URL + "/hook", MsgID: "msg_1", Body: []byte(`{}`), Secrets: testSecrets})
	require.NoError(t, res.Err)
	require.True(t, res.Delivered())

	// Without the allowance the same target is refused.
	s = NewSender(Options{})
	res = s.Send(context.Background(), Delivery{URL: srv.URL + "/hook", MsgID: "msg_1", Body: []byte(`{}`), Secrets: testSecrets})
	require.ErrorIs(t, res.Err, ErrForbiddenAddress)
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{value: "", want: 0},
		{value: "120", want: 2 * time.Minute},
		{value: " 7 ", want: 7 * time.Second},
		{value: "0", want: 0},
		{value: "-5", want: 0},
		{value: "999999999999999999", want: 24 * time.Hour},
		{value: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second},
		{value: now.Add(-time.Hour).Format(http.TimeFormat), want: 0},
		{value: now.Add(72 * time.Hour).Format(http.TimeFormat), want: 24 * time.Hour},
		{value: "soon", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, parseRetryAfter(tt.value, now))
		})
	}
}
