// Package webhook delivers signed webhooks (Standard Webhooks scheme) to
// customer URLs. Every dial goes through an address guard so a customer URL
// can never reach our own network or cloud metadata.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/webhooksig"
)

const (
	DefaultTimeout   = 10 * time.Second
	DefaultUserAgent = "patientlink-webhook/1"

	// Customers' answers carry nothing we use; read a little so the
	// connection can be reused, never an unbounded body.
	maxResponseBody = 64 << 10
	maxRetryAfter   = 24 * time.Hour
)

// ErrInvalidDelivery matches deliveries that cannot be signed (no or bad
// secrets, bad message id); retrying them cannot help.
var ErrInvalidDelivery = errors.New("invalid webhook delivery")

type Options struct {
	Timeout       time.Duration  // per attempt, default 10s
	AllowInsecure bool           // allow http:// and loopback targets: dev and tests only
	AllowCIDRs    []netip.Prefix // addresses allowed even though private
	UserAgent     string         // default DefaultUserAgent
}

// Delivery is one attempt to deliver one event.
type Delivery struct {
	URL   string
	MsgID string // the same on every retry so receivers can de-duplicate
	Body  []byte
	// Secrets sign the attempt; two during a rotation.
	Secrets []string
	// Timestamp is what the attempt is signed with. Leave it zero to sign with
	// the current time: receivers refuse timestamps older than 5 minutes, so
	// a retry must not reuse the first attempt's.
	Timestamp time.Time
}

// Result is the outcome of one attempt.
type Result struct {
	StatusCode int
	Latency    time.Duration
	RetryAfter time.Duration // from a 429 or 503 Retry-After (seconds or HTTP-date); 0 if absent
	Err        error         // transport, guard or validation error; nil when an HTTP answer came
}

// Delivered reports a 2xx answer.
func (r Result) Delivered() bool {
	return r.Err == nil && r.StatusCode >= 200 && r.StatusCode < 300
}

// Gone reports a 410: the customer asks us to stop sending to this URL.
func (r Result) Gone() bool { return r.Err == nil && r.StatusCode == http.StatusGone }

// Retryable reports whether another attempt could succeed. Redirects, other
// 4xx and 5xx, timeouts and connection errors are retried; guard refusals,
// invalid URLs and unsignable deliveries are not.
func (r Result) Retryable() bool {
	if r.Delivered() || r.Gone() {
		return false
	}
	return !errors.Is(r.Err, ErrForbiddenAddress) &&
		!errors.Is(r.Err, ErrInvalidURL) &&
		!errors.Is(r.Err, ErrInvalidDelivery)
}

// Sender posts deliveries. It is safe for concurrent use and keeps
// connections alive between deliveries.
type Sender struct {
	opts   Options
	guard  guard
	client *http.Client
	now    func() time.Time
}

func NewSender(opts Options) *Sender {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	opts.AllowCIDRs = slices.Clone(opts.AllowCIDRs)
	g := guard{allowLoopback: opts.AllowInsecure, allow: opts.AllowCIDRs}

	dialer := &net.Dialer{KeepAlive: 30 * time.Second, ControlContext: g.control}
	transport := &http.Transport{
		// No Proxy: a proxy would dial for us and the guard would only see the proxy.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   opts.Timeout,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	client := &http.Client{
		Transport: transport,
		// A redirect could point anywhere and would not be signed for; treat a
		// 3xx as the answer (a failed attempt).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Sender{opts: opts, guard: g, client: client, now: time.Now}
}

// CheckURL is ValidateURL with this sender's AllowInsecure, plus the address
// guard when the host is an IP literal, so intake can refuse such URLs early.
// Hostnames are checked at dial time on every delivery.
func (s *Sender) CheckURL(raw string) error {
	if err := ValidateURL(raw, s.opts.AllowInsecure); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: does not parse", ErrInvalidURL)
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil {
		return s.guard.check(addr)
	}
	return nil
}

// Send makes one signed POST attempt. It never follows redirects and gives
// up after Options.Timeout. A failure's Err is a *DeliveryError whose text
// is a category only (no URL, body or address); a non-2xx answer is
// StatusCode.
func (s *Sender) Send(ctx context.Context, d Delivery) Result {
	res := s.send(ctx, d)
	res.Err = categorize(res.Err)
	return res
}

func (s *Sender) send(ctx context.Context, d Delivery) Result {
	if err := s.CheckURL(d.URL); err != nil {
		return Result{Err: err}
	}
	ts := d.Timestamp
	if ts.IsZero() {
		ts = s.now()
	}
	sig, err := webhooksig.Headers(d.Secrets, d.MsgID, ts, d.Body)
	if err != nil {
		return Result{Err: fmt.Errorf("%w: %w", ErrInvalidDelivery, err)}
	}

	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return Result{Err: fmt.Errorf("%w: %w", ErrInvalidURL, err)}
	}
	maps.Copy(req.Header, sig)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.opts.UserAgent)

	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return Result{Latency: time.Since(start), Err: fmt.Errorf("error posting webhook %s: %w", d.MsgID, withoutURL(err))}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	_ = resp.Body.Close()

	res := Result{StatusCode: resp.StatusCode, Latency: time.Since(start)}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	return res
}

// withoutURL drops *url.Error's wrapping: it repeats the full URL, whose
// query string may hold a customer's token, into every log line.
func withoutURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// parseRetryAfter reads delay-seconds or an HTTP-date, capped at 24h.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(min(secs, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}
