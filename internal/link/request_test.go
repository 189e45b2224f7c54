package link

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	const id = `"6f1c2a34-8f1e-4c4e-9d6b-0c1f2e3d4a5b"`
	tests := []struct {
		name string
		body string
		bad  []string // pointers; nil means valid
	}{
		{"minimal", `{"patient":{"id":` + id + `,"full_name":"Ada","dob":"1980-01-02"}}`, nil},
		{"rfc3339 dob", `{"patient":{"id":` + id + `,"full_name":"Ada","dob":"1980-01-02T00:00:00Z"}}`, nil},
		{"full", `{"patient":{"id":` + id + `,"full_name":"Ada","dob":"1980-01-02","contact":{"address":"1 Road","phone":"+44 20 7946 0000","email":"a@b.org"},"insurance":{"plan":"x"}},"webhook":"https://h.example/x"}`, nil},
		{"unicode and SQL-looking name", `{"patient":{"id":` + id + `,"full_name":"Zoë O'Brien-Łukasz; DROP TABLE x;--","dob":"1980-01-02"}}`, nil},
		{"no patient", `{}`, []string{"/patient"}},
		{"patient not object", `{"patient":5}`, []string{"/patient"}},
		{"everything wrong", `{"patient":{"id":"x","full_name":" ","dob":"1899-12-31","contact":{"email":"Ada <a@b.org>","phone":"call me","fax":"1"},"insurance":[]},"webhook":"/relative","more":1}`,
			[]string{"/more", "/patient/contact/email", "/patient/contact/fax", "/patient/contact/phone", "/patient/dob", "/patient/full_name", "/patient/id", "/patient/insurance", "/webhook"}},
		{"future dob", `{"patient":{"id":` + id + `,"full_name":"Ada","dob":"2027-01-01"}}`, []string{"/patient/dob"}},
		{"wrong types", `{"patient":{"id":1,"full_name":true,"dob":null}}`, []string{"/patient/dob", "/patient/full_name", "/patient/id"}},
		{"uuid without dashes", `{"patient":{"id":"6f1c2a348f1e4c4e9d6b0c1f2e3d4a5b","full_name":"Ada","dob":"1980-01-02"}}`, []string{"/patient/id"}},
		{"control characters", `{"patient":{"id":` + id + `,"full_name":"A\u0000da","dob":"1980-01-02"}}`, []string{"/patient/full_name"}},
		{"name too long", `{"patient":{"id":` + id + `,"full_name":"` + strings.Repeat("a", 201) + `","dob":"1980-01-02"}}`, []string{"/patient/full_name"}},
	}
	for _, tt := range tests {
		_, err := ParseRequest([]byte(tt.body), now)
		if tt.bad == nil {
			require.NoError(t, err, tt.name)
			continue
		}
		var verr *ValidationError
		require.ErrorAs(t, err, &verr, "%s: %v", tt.name, err)
		var got []string
		for _, f := range verr.Fields {
			got = append(got, f.Pointer)
		}
		require.Equal(t, tt.bad, got, tt.name)
	}
}

func TestParseRequestMalformed(t *testing.T) {
	t.Parallel()
	for _, body := range []string{``, `{`, `[]`, `"x"`, `null`, `{"patient":{}}x`} {
		_, err := ParseRequest([]byte(body), now)
		require.ErrorIs(t, err, ErrMalformed, body)
	}
}

// Names round-trip verbatim (trimmed only), and the canonical form ignores
// spacing and key order.
func TestCanonical(t *testing.T) {
	t.Parallel()
	a, err := ParseRequest([]byte(`{"patient":{"full_name":"Zoë  Ünïcode","id":"6F1C2A34-8F1E-4C4E-9D6B-0C1F2E3D4A5B","dob":"1980-01-02","insurance":{"b":1,"a":2}}}`), now)
	require.NoError(t, err)
	b, err := ParseRequest([]byte(`{ "patient" : { "id":"6f1c2a34-8f1e-4c4e-9d6b-0c1f2e3d4a5b", "dob":"1980-01-02", "full_name":"Zoë  Ünïcode", "insurance": {"a":2, "b":1} } }`), now)
	require.NoError(t, err)
	require.Equal(t, "Zoë  Ünïcode", a.Patient.FullName)
	require.Equal(t, string(a.Canonical()), string(b.Canonical()))
}

// What the index does not use is not kept: address and insurance are
// validated, then dropped from what is sealed and hashed.
func TestCanonicalKeepsOnlyWhatIsUsed(t *testing.T) {
	t.Parallel()
	r, err := ParseRequest([]byte(`{"patient":{"id":"6f1c2a34-8f1e-4c4e-9d6b-0c1f2e3d4a5b","full_name":"Ada Lovelace","dob":"1980-01-02",
		"contact":{"address":"12 Secret Lane","email":"ada@example.org"},"insurance":{"member":"XK-991"}}}`), now)
	require.NoError(t, err)
	c := string(r.Canonical())
	require.NotContains(t, c, "Secret Lane")
	require.NotContains(t, c, "XK-991")
	require.Contains(t, c, "ada@example.org")
	only, err := ParseRequest([]byte(`{"patient":{"id":"6f1c2a34-8f1e-4c4e-9d6b-0c1f2e3d4a5b","full_name":"Ada Lovelace","dob":"1980-01-02","contact":{"address":"x"}}}`), now)
	require.NoError(t, err)
	require.NotContains(t, string(only.Canonical()), "contact")
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"patient":{"id":"6f1c2a34-8f1e-4c4e-9d6b-0c1f2e3d4a5b","full_name":"Ada","dob":"1980-01-02"}}`))
	f.Add([]byte(`{"patient":{"contact":{"email":"a@b"}},"webhook":"http://x"}`))
	f.Add([]byte(`[[[[[[[[[[]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body, now)
		if err == nil {
			// What validates has a UUID and re-validates from its canonical form.
			_ = req.PatientUUID()
			_, err := ParseRequest(req.Canonical(), now)
			require.NoError(t, err)
		}
	})
}

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{`{}`, `{"a":{"a":1},"b":[{"a":1},{"a":2}]}`, `"\ud83d\ude00"`, `"\\ud800"`} {
		require.NoError(t, CheckJSON([]byte(ok)), ok)
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `{"x":{"a":1,"a":2}}`, "\"\xff\"", `"\ud800"`, `"\udc00\ud800"`, `"\ud800\u0041"`, `{} {}`, strings.Repeat("[", 70) + strings.Repeat("]", 70)} {
		require.ErrorIs(t, CheckJSON([]byte(bad)), ErrMalformed, bad)
	}
}

// FuzzCheckJSON: what the strict decoder accepts is valid UTF-8 JSON that
// encoding/json reads (with json.Number), and ParseRequest never panics on anything.
func FuzzCheckJSON(f *testing.F) {
	f.Add([]byte(`{"patient":{"id":"6f1c2a34-8f1e-4c4e-9d6b-0c1f2e3d4a5b","full-name":"Ada","dob":"1980-01-02"}}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`"\ud83d\ude00\ud800"`))
	f.Add([]byte("{\"k\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if CheckJSON(body) == nil {
			require.True(t, utf8.Valid(body))
			require.True(t, json.Valid(body))
			var v any
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber() // numbers keep their text, however long
			require.NoError(t, dec.Decode(&v))
		}
		_, _ = ParseRequest(body, now)
	})
}
