// Package index is the client of the internal patient index: a demographic
// search answered either synchronously or later through a signed callback.
// The HTTP contract is described in docs/internal-index.md.
package index

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Query is what we search the index with. Its JSON form is the request body.
// It is PHI: never log it.
type Query struct {
	FullName string `json:"full_name"`
	DOB      string `json:"dob"` // YYYY-MM-DD
	Email    string `json:"email,omitempty"`
	Phone    string `json:"phone,omitempty"`
}

// Result is one candidate internal patient.
type Result struct {
	ID    string  `json:"id"`
	Score float64 `json:"score"`
	// Matched is the per-field agreement, when the index gives it:
	// {"full_name": "exact"|"fuzzy"|"none", "dob": …, "email": …, "phone": …}.
	Matched map[string]string `json:"matched,omitempty"`
}

// Response is the answer to a Search. When the index answers asynchronously,
// Results is empty and SearchID names the callback that will carry them.
type Response struct {
	Results  []Result // sorted by Score, highest first
	SearchID string
}

// Async reports whether the results will arrive later through a callback.
func (r Response) Async() bool { return r.SearchID != "" }

// Options tune a Client; zero values get the defaults noted on each field.
type Options struct {
	Timeout         time.Duration // per call; default 5s
	BreakerFailures int           // consecutive transient failures that open the breaker; default 5
	BreakerCooldown time.Duration // how long the breaker stays open before a probe; default 10s
	Logger          *slog.Logger  // default slog.Default()
	Token           string        // sent as Authorization: Bearer when set
	AllowInsecure   bool          // allow http:// (development); default https only
	HTTPClient      *http.Client  // default NewHTTPClient(AllowInsecure)
	Now             func() time.Time
}

// NewHTTPClient is the index's dedicated client: demographics go to the
// index and nowhere else, so it takes no proxy from the environment,
// follows no redirect (a 3xx is an answer, and an error), and refuses
// plain http unless allowInsecure.
func NewHTTPClient(allowInsecure bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &http.Client{
		Transport:     httpsOnly{next: tr, allowInsecure: allowInsecure},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ErrInsecure refuses a request over plain http.
var ErrInsecure = errors.New("the index must be reached over https (PATIENTLINK_ALLOW_INSECURE_INDEX=true allows http in development)")

type httpsOnly struct {
	next          http.RoundTripper
	allowInsecure bool
}

func (t httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" && !t.allowInsecure {
		return nil, ErrInsecure
	}
	return t.next.RoundTrip(r)
}

const (
	defaultTimeout         = 5 * time.Second
	defaultBreakerFailures = 5
	defaultBreakerCooldown = 10 * time.Second

	// maxResponseBytes bounds what we read from the index, so a broken
	// server cannot make us buffer without end.
	maxResponseBytes = 4 << 20
)

// Client calls the internal index. It is safe for concurrent use.
type Client struct {
	searchURL  string
	token      string
	timeout    time.Duration
	httpClient *http.Client
	breaker    *breaker
}

// New returns a Client for the index at baseURL (e.g. "http://index:8090").
func New(baseURL string, opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.BreakerFailures <= 0 {
		opts.BreakerFailures = defaultBreakerFailures
	}
	if opts.BreakerCooldown <= 0 {
		opts.BreakerCooldown = defaultBreakerCooldown
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = NewHTTPClient(opts.AllowInsecure)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Client{
		searchURL:  strings.TrimRight(baseURL, "/") + "/search",
		token:      opts.Token,
		timeout:    opts.Timeout,
		httpClient: opts.HTTPClient,
		breaker: &breaker{
			failuresToOpen: opts.BreakerFailures,
			cooldown:       opts.BreakerCooldown,
			now:            opts.Now,
			logger:         opts.Logger,
		},
	}
}

// BreakerOpen reports whether the breaker is currently refusing calls (open or
// waiting for its half-open probe).
func (c *Client) BreakerOpen() bool { return c.breaker.isOpen() }

// Search asks the index for patients matching q. Every failure is an *Error;
// use IsTemporary to decide whether to retry.
func (c *Client) Search(ctx context.Context, q Query) (Response, error) {
	if err := validateQuery(q); err != nil {
		return Response{}, &Error{Err: err}
	}
	body, err := json.Marshal(q)
	if err != nil {
		return Response{}, &Error{Err: fmt.Errorf("error encoding query: %w", err)}
	}

	ok, probe := c.breaker.allow()
	if !ok {
		return Response{}, &Error{Temporary: true, Err: ErrCircuitOpen}
	}
	resp, err := c.search(ctx, body)
	c.breaker.record(probe, classify(ctx, err))
	return resp, err
}

func (c *Client) search(ctx context.Context, body []byte) (Response, error) {
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, c.searchURL, bytes.NewReader(body))
	if err != nil {
		return Response{}, &Error{Err: fmt.Errorf("error building request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}

	httpResp, err := c.httpClient.Do(req)
	if err != nil {
		// Timeouts, refused and reset connections: all worth another try.
		return Response{}, &Error{Temporary: true, Err: fmt.Errorf("error calling index: %w", err)}
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(httpResp.Body, 64<<10))
		_ = httpResp.Body.Close()
	}()

	switch code := httpResp.StatusCode; {
	case code == http.StatusOK:
		return decodeResults(httpResp)
	case code == http.StatusAccepted:
		return decodeAccepted(httpResp)
	case code == http.StatusTooManyRequests || code >= 500:
		return Response{}, statusError(code, true)
	case code >= 400:
		return Response{}, statusError(code, false)
	default:
		// 204, 3xx and friends are not part of the contract; a proxy in the
		// way is the likeliest cause, so it may pass.
		return Response{}, statusError(code, true)
	}
}

func statusError(code int, temporary bool) *Error {
	text := strings.ToLower(http.StatusText(code))
	if text == "" {
		text = "unexpected status"
	}
	return &Error{StatusCode: code, Temporary: temporary, Err: errors.New(text)}
}

type resultsBody struct {
	Results []Result `json:"results"`
}

type acceptedBody struct {
	SearchID string `json:"search-id"`
}

func decodeResults(httpResp *http.Response) (Response, error) {
	var body resultsBody
	if err := decodeBody(httpResp, &body); err != nil {
		return Response{}, err
	}
	for _, r := range body.Results {
		if r.ID == "" {
			return Response{}, garbled(httpResp.StatusCode, errors.New("result without id"))
		}
	}
	// The contract says sorted; sorting again costs nothing and protects callers.
	slices.SortStableFunc(body.Results, func(a, b Result) int { return cmp.Compare(b.Score, a.Score) })
	return Response{Results: body.Results}, nil
}

func decodeAccepted(httpResp *http.Response) (Response, error) {
	var body acceptedBody
	if err := decodeBody(httpResp, &body); err != nil {
		return Response{}, err
	}
	if body.SearchID == "" {
		return Response{}, garbled(httpResp.StatusCode, errors.New("accepted without search-id"))
	}
	return Response{SearchID: body.SearchID}, nil
}

func decodeBody(httpResp *http.Response, v any) error {
	data, err := io.ReadAll(io.LimitReader(httpResp.Body, maxResponseBytes+1))
	if err != nil {
		return garbled(httpResp.StatusCode, fmt.Errorf("error reading response: %w", err))
	}
	if len(data) > maxResponseBytes {
		return garbled(httpResp.StatusCode, errors.New("response too large"))
	}
	if err := json.Unmarshal(data, v); err != nil {
		return garbled(httpResp.StatusCode, fmt.Errorf("error decoding response: %w", err))
	}
	return nil
}

// garbled marks a 2xx we could not use as temporary: a flaky server or a cut
// connection, not a mistake of ours.
func garbled(code int, err error) *Error {
	return &Error{StatusCode: code, Temporary: true, Err: err}
}

func validateQuery(q Query) error {
	if strings.TrimSpace(q.FullName) == "" {
		return fmt.Errorf("%w: full name is required", ErrInvalidQuery)
	}
	if _, err := time.Parse(time.DateOnly, q.DOB); err != nil {
		return fmt.Errorf("%w: dob must be YYYY-MM-DD", ErrInvalidQuery)
	}
	return nil
}

// classify turns a Search outcome into what the breaker needs to know.
func classify(ctx context.Context, err error) outcome {
	if err == nil {
		return outcomeSuccess
	}
	if ctx.Err() != nil {
		return outcomeNeutral // our caller gave up, the index did nothing wrong
	}
	if IsTemporary(err) {
		return outcomeFailure
	}
	return outcomeSuccess // a 4xx: the index is up and answering
}
