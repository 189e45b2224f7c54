package webhook_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/webhook"
)

func TestValidateURL(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name          string
		raw           string
		allowInsecure bool
		wantErr       bool
	}{
		{name: "https", raw: "https://hooks.example.com/patientlink"},
		{name: "https with port and query", raw: "https://hooks.example.com:8443/in?tenant=a"},
		{name: "http when insecure allowed", raw: "http://127.0.0.1:8091/", allowInsecure: true},
		{name: "http refused", raw: "http://hooks.example.com/", wantErr: true},
		{name: "relative", raw: "/hooks", wantErr: true},
		{name: "no scheme", raw: "hooks.example.com/in", wantErr: true},
		{name: "other scheme", raw: "ftp://hooks.example.com/", allowInsecure: true, wantErr: true},
		{name: "file scheme", raw: "file:///etc/passwd", allowInsecure: true, wantErr: true},
		{name: "opaque", raw: "https:hooks.example.com", wantErr: true},
		{name: "no host", raw: "https:///in", wantErr: true},
		{name: "port only", raw: "https://:443/in", wantErr: true},
		{name: "user-info", raw: "https://user:pass@hooks.example.com/", wantErr: true},
		{name: "user only", raw: "https://user@hooks.example.com/", wantErr: true},
		{name: "fragment", raw: "https://hooks.example.com/in#x", wantErr: true},
		{name: "empty fragment", raw: "https://hooks.example.com/in#", wantErr: true},
		{name: "empty", raw: "", wantErr: true},
		{name: "control character", raw: "https://hooks.example.com/\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.ValidateURL(tt.raw, tt.allowInsecure)
			if tt.wantErr {
				require.ErrorIs(t, err, webhook.ErrInvalidURL)
				return
			}
			require.NoError(t, err)
		})
	}
}
