package link

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Request is the body of POST /link. Field order is the canonical one that
// the idempotency hash is taken over.
type Request struct {
	Patient Patient `json:"patient"`
	Webhook string  `json:"webhook,omitempty"`
}

// Patient is the customer's patient: PHI, sealed at rest, never logged.
type Patient struct {
	ID        string          `json:"id"`
	FullName  string          `json:"full_name"`
	DOB       string          `json:"dob"`
	Contact   *Contact        `json:"contact,omitempty"`
	Insurance json.RawMessage `json:"insurance,omitempty"`
}

// Contact is how to reach the patient.
type Contact struct {
	Address string `json:"address,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Email   string `json:"email,omitempty"`
}

// FieldError names one bad field by JSON pointer.
type FieldError struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// ValidationError lists every bad field of a request.
type ValidationError struct{ Fields []FieldError }

// With is e with more bad fields, sorted by pointer; a pointer already
// listed keeps its first detail.
func (e *ValidationError) With(fields ...FieldError) *ValidationError {
	v := &validator{fields: slices.Clone(e.Fields)}
	for _, f := range fields {
		v.add(f.Pointer, f.Detail)
	}
	return &ValidationError{Fields: v.sorted()}
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%d invalid field(s)", len(e.Fields))
}

// ErrMalformed says the body is not a JSON object at all.
var ErrMalformed = errors.New("malformed JSON")

const (
	maxNameLen    = 200
	maxAddressLen = 500
)

// ParseRequest decodes and validates a link request: ErrMalformed for
// undecodable JSON (CheckJSON's rules included), a *ValidationError listing
// every bad field otherwise, with the request as far as it was read.
// Field names are accepted in kebab-case (full-name) or, as before,
// snake_case (full_name), not both. now bounds the date of birth.
func ParseRequest(body []byte, now time.Time) (Request, error) {
	if err := CheckJSON(body); err != nil {
		return Request{}, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return Request{}, ErrMalformed
	}
	v := &validator{}
	var req Request
	for key, raw := range top {
		switch key {
		case "patient":
			req.Patient = v.patient(raw)
		case "webhook":
			if !v.decode(raw, &req.Webhook, "/webhook", "must be a string") {
				continue
			}
			if u, err := url.Parse(req.Webhook); err != nil || !u.IsAbs() || u.Host == "" {
				v.add("/webhook", "must be an absolute URL")
			}
		default:
			v.add("/"+escapePointer(key), "unknown field")
		}
	}
	if _, ok := top["patient"]; !ok {
		v.add("/patient", "is required")
	}
	if _, ok := top["patient"]; ok {
		v.checkPatient(&req.Patient, now)
	}
	if v.fields != nil {
		// The request comes back too, so the caller can check what only it
		// can (the webhook's origin) and list every bad field at once.
		return req, &ValidationError{Fields: v.sorted()}
	}
	return req, nil
}

// PatientUUID is the validated patient id.
func (r Request) PatientUUID() uuid.UUID { return uuid.MustParse(r.Patient.ID) }

// Canonical is the request re-encoded in a fixed form: two requests that mean
// the same thing encode the same, whatever their spacing or key order.
func (r Request) Canonical() []byte {
	// What is not used is not kept: the index matches on name, dob, email
	// and phone, so the address and insurance are validated and dropped
	// (never sealed, never part of the idempotency hash).
	r.Patient.Insurance = nil
	if c := r.Patient.Contact; c != nil {
		kept := Contact{Phone: c.Phone, Email: c.Email}
		r.Patient.Contact = nil
		if kept != (Contact{}) {
			r.Patient.Contact = &kept
		}
	}
	b, _ := json.Marshal(r)
	return b
}

type validator struct {
	fields  []FieldError
	nameKey string // the spelling of full_name the request used
}

// add records a problem with a field; the first one found per field wins.
func (v *validator) add(pointer, detail string) {
	if v.has(pointer) {
		return
	}
	v.fields = append(v.fields, FieldError{Pointer: pointer, Detail: detail})
}

func (v *validator) has(pointer string) bool {
	for _, f := range v.fields {
		if f.Pointer == pointer || strings.HasPrefix(pointer, f.Pointer+"/") {
			return true
		}
	}
	return false
}

func (v *validator) decode(raw json.RawMessage, dst any, pointer, detail string) bool {
	if err := json.Unmarshal(raw, dst); err != nil {
		v.add(pointer, detail)
		return false
	}
	return true
}

func (v *validator) patient(raw json.RawMessage) Patient {
	var p Patient
	var fields map[string]json.RawMessage
	if !v.decode(raw, &fields, "/patient", "must be an object") || fields == nil {
		if fields == nil && v.fields == nil {
			v.add("/patient", "must be an object")
		}
		return p
	}
	for key, raw := range fields {
		ptr := "/patient/" + escapePointer(key)
		switch key {
		case "id":
			v.decode(raw, &p.ID, ptr, "must be a string")
		case "full_name", "full-name":
			if _, both := fields["full_name"]; both && key == "full-name" {
				v.add(ptr, "must not be given with full_name")
				continue
			}
			v.nameKey = key
			v.decode(raw, &p.FullName, ptr, "must be a string")
		case "dob":
			v.decode(raw, &p.DOB, ptr, "must be a string")
		case "contact":
			p.Contact = v.contact(raw)
		case "insurance":
			var obj map[string]any
			if v.decode(raw, &obj, ptr, "must be an object") && obj != nil {
				p.Insurance = raw // numbers keep their text: Canonical never parses them as floats
			}
		default:
			v.add(ptr, "unknown field")
		}
	}
	return p
}

func (v *validator) contact(raw json.RawMessage) *Contact {
	var fields map[string]json.RawMessage
	if !v.decode(raw, &fields, "/patient/contact", "must be an object") || fields == nil {
		return nil
	}
	c := &Contact{}
	for key, raw := range fields {
		ptr := "/patient/contact/" + escapePointer(key)
		switch key {
		case "address":
			v.decode(raw, &c.Address, ptr, "must be a string")
		case "phone":
			v.decode(raw, &c.Phone, ptr, "must be a string")
		case "email":
			v.decode(raw, &c.Email, ptr, "must be a string")
		default:
			v.add(ptr, "unknown field")
		}
	}
	return c
}

func (v *validator) checkPatient(p *Patient, now time.Time) {
	if p.ID == "" {
		v.add("/patient/id", "is required")
	} else if id, err := uuid.Parse(p.ID); err != nil || len(p.ID) != 36 {
		v.add("/patient/id", "must be a UUID")
	} else {
		p.ID = id.String() // one spelling, so idempotency and lookups agree
	}

	p.FullName = strings.TrimSpace(p.FullName)
	name := "/patient/full_name"
	if v.nameKey == "full-name" {
		name = "/patient/full-name"
	}
	switch {
	case p.FullName == "":
		v.add(name, "is required")
	case utf8.RuneCountInString(p.FullName) > maxNameLen:
		v.add(name, fmt.Sprintf("must be at most %d characters", maxNameLen))
	case strings.IndexFunc(p.FullName, unicode.IsControl) >= 0:
		v.add(name, "must not contain control characters")
	}

	if p.DOB == "" {
		v.add("/patient/dob", "is required")
	} else if dob, err := ParseDOB(p.DOB); err != nil {
		v.add("/patient/dob", "must be a date (YYYY-MM-DD) or an RFC 3339 timestamp")
	} else if dob.After(now) {
		v.add("/patient/dob", "must not be in the future")
	} else if dob.Year() < 1900 {
		v.add("/patient/dob", "must not be before 1900")
	}

	if c := p.Contact; c != nil {
		if c.Email != "" {
			if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email || a.Name != "" {
				v.add("/patient/contact/email", "must be an email address")
			}
		}
		if c.Phone != "" && !validPhone(c.Phone) {
			v.add("/patient/contact/phone", "must be a phone number (digits, spaces, + - ( ) .; 3 to 32 characters)")
		}
		if utf8.RuneCountInString(c.Address) > maxAddressLen {
			v.add("/patient/contact/address", fmt.Sprintf("must be at most %d characters", maxAddressLen))
		}
	}
}

// ParseDOB accepts a date or an RFC 3339 timestamp and returns the date.
func ParseDOB(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
}

func validPhone(s string) bool {
	if len(s) < 3 || len(s) > 32 {
		return false
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune(" +-().", r):
		default:
			return false
		}
	}
	return digits >= 3
}

func (v *validator) sorted() []FieldError {
	slices.SortFunc(v.fields, func(a, b FieldError) int { return strings.Compare(a.Pointer, b.Pointer) })
	return v.fields
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
