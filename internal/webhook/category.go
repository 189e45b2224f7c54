package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"syscall"
)

// DeliveryError is a failed attempt as customers and auditors see it: a
// category only. The cause (which may name our resolver, our private
// addresses or the target's) stays in the chain for errors.Is and As, out
// of the text that is stored and shown.
type DeliveryError struct {
	Category string
	cause    error
}

func (e *DeliveryError) Error() string { return e.Category }
func (e *DeliveryError) Unwrap() error { return e.cause }

// Delivery error categories.
const (
	CategoryRefusedAddress = "refused: the target address is not public"
	CategoryInvalidURL     = "invalid webhook URL"
	CategoryInvalid        = "invalid delivery"
	CategoryTimeout        = "timeout"
	CategoryDNS            = "the target host did not resolve"
	CategoryRefused        = "connection refused"
	CategoryTLS            = "TLS handshake failed"
	CategoryConnection     = "connection failed"
)

// categorize turns err into a *DeliveryError; nil stays nil.
func categorize(err error) error {
	if err == nil {
		return nil
	}
	var category string
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		category = CategoryRefusedAddress
	case errors.Is(err, ErrInvalidURL):
		category = CategoryInvalidURL
	case errors.Is(err, ErrInvalidDelivery):
		category = CategoryInvalid
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		category = CategoryTimeout
	case errors.As(err, &dnsErr):
		category = CategoryDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		category = CategoryRefused
	case errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &recordErr):
		category = CategoryTLS
	default:
		category = CategoryConnection
	}
	return &DeliveryError{Category: category, cause: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
