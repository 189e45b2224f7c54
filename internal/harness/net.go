package harness

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// FreeAddr is a 127.0.0.1 address nobody listens on right now. It is
// picked below Linux's ephemeral range (32768–60999): a port the kernel
// hands to a listener on port 0 (httptest, a client) meanwhile can then
// never be the one a process is about to be started on.
func FreeAddr() (string, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken: try another
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr, nil
	}
	return "", fmt.Errorf("no free port found in 20000–31999")
}

// FreePort is the port of a FreeAddr.
func FreePort() (int, error) {
	addr, err := FreeAddr()
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(addr)
	return strconv.Atoi(port)
}

// Listening reports whether something accepts connections on addr.
func Listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// pollEvery is how often the waits below try again.
const pollEvery = 50 * time.Millisecond

// WaitTCP waits until addr accepts connections.
func WaitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if Listening(addr) {
			return nil
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return err
		}
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
}

// WaitHTTP polls url (a /healthz or /readyz) until it answers 200. alive,
// when given, is asked between tries so that a process that died while
// starting fails the wait at once instead of at the timeout.
func WaitHTTP(ctx context.Context, url string, timeout time.Duration, alive func() bool) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		if alive != nil && !alive() {
			return fmt.Errorf("exited before %s answered", url)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s did not answer 200 within %s (%s)", url, timeout, last)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
