package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalidURL matches every ValidateURL refusal.
var ErrInvalidURL = errors.New("invalid webhook url")

// ValidateURL checks the shape of a webhook URL: absolute, https (http only
// when allowInsecure), a host, no user-info and no fragment. It does not
// resolve the host; the address guard does that at dial time.
func ValidateURL(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: does not parse", ErrInvalidURL)
	}
	switch {
	case !u.IsAbs() || u.Opaque != "":
		return fmt.Errorf("%w: not an absolute url", ErrInvalidURL)
	case u.Scheme == "http" && !allowInsecure:
		return fmt.Errorf("%w: scheme must be https", ErrInvalidURL)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%w: scheme %q is not https", ErrInvalidURL, u.Scheme)
	case u.Hostname() == "":
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	case u.User != nil:
		// Credentials in URLs end up in logs; customers authenticate us by signature.
		return fmt.Errorf("%w: user-info is not allowed", ErrInvalidURL)
	case strings.Contains(raw, "#"):
		return fmt.Errorf("%w: fragment is not allowed", ErrInvalidURL)
	}
	return nil
}
