package index

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// SignatureHeader carries the callback signature: "t=<unix>,v1=<hex hmac>".
	SignatureHeader = "Index-Signature"
	// CallbackPathPrefix is followed by the search-id in the callback URL.
	CallbackPathPrefix = "/internal/search-results/"
	// SignatureTolerance is how far a callback timestamp may be from now,
	// either way, before it is refused as a replay.
	SignatureTolerance = 5 * time.Minute
)

// Callback verification errors; receivers answer 401 to all of them.
var (
	ErrSignatureMalformed = errors.New("callback signature missing or malformed")
	ErrSignatureStale     = errors.New("callback signature timestamp out of tolerance")
	ErrSignatureMismatch  = errors.New("callback signature mismatch")
)

// CallbackBody is what the index POSTs to the callback URL for an async search.
// Callbacks may repeat; receivers must treat repeats as harmless.
type CallbackBody struct {
	SearchID string   `json:"search-id"`
	Results  []Result `json:"results"`
}

// CallbackPath is the path a search's callback is POSTed to and signed
// with.
func CallbackPath(searchID string) string {
	return CallbackPathPrefix + url.PathEscape(searchID)
}

// MaxCallbackBytes bounds a callback's body: a search's results are a few
// ids and scores.
const MaxCallbackBytes = 64 << 10

// SignCallback returns the SignatureHeader value for body POSTed to path
// (CallbackPathPrefix + the search id) at t: the signature binds both, so
// a signed answer cannot be replayed onto another search.
func SignCallback(secret []byte, path string, body []byte, t time.Time) string {
	ts := t.Unix()
	return fmt.Sprintf("t=%d,v1=%s", ts, hex.EncodeToString(callbackMAC(secret, ts, path, body)))
}

// CheckCallbackHeader checks what can be checked of a SignatureHeader
// before the body is read: its form and its timestamp's freshness.
func CheckCallbackHeader(header string, now time.Time) error {
	_, _, err := checkedSignature(header, now)
	return err
}

func checkedSignature(header string, now time.Time) (int64, [][]byte, error) {
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return 0, nil, err
	}
	if d := now.Sub(time.Unix(ts, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return 0, nil, ErrSignatureStale
	}
	return ts, sigs, nil
}

// VerifyCallback checks a SignatureHeader value against the request path
// and raw body. Several v1 entries are accepted so that the secret can be
// rotated.
func VerifyCallback(secret []byte, header, path string, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no secret configured", ErrSignatureMismatch)
	}
	ts, sigs, err := checkedSignature(header, now)
	if err != nil {
		return err
	}
	want := callbackMAC(secret, ts, path, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}

func parseSignature(header string) (int64, [][]byte, error) {
	if strings.TrimSpace(header) == "" {
		return 0, nil, fmt.Errorf("%w: empty header", ErrSignatureMalformed)
	}
	var (
		ts    int64
		haveT bool
		sigs  [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: element without '='", ErrSignatureMalformed)
		}
		switch key {
		case "t":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || haveT {
				return 0, nil, fmt.Errorf("%w: bad timestamp", ErrSignatureMalformed)
			}
			ts, haveT = n, true
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return 0, nil, fmt.Errorf("%w: bad v1 signature", ErrSignatureMalformed)
			}
			sigs = append(sigs, sig)
		default:
			// Unknown schemes are ignored so that new ones can be added.
		}
	}
	if !haveT || len(sigs) == 0 {
		return 0, nil, fmt.Errorf("%w: need t and v1", ErrSignatureMalformed)
	}
	return ts, sigs, nil
}

// callbackMAC is HMAC-SHA256 over "<ts>.<path>.<body>".
func callbackMAC(secret []byte, ts int64, path string, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write([]byte(path))
	mac.Write([]byte("."))
	mac.Write(body)
	return mac.Sum(nil)
}
