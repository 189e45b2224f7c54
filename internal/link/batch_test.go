package link

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseBatch(t *testing.T) {
	t.Parallel()
	items, err := ParseBatch([]byte(`{"patients": [ {"patient": {"id": "x"}} , 42, "s", {"a":1,"a":2} ]}`))
	require.NoError(t, err)
	require.Equal(t, []string{`{"patient":{"id":"x"}}`, `42`, `"s"`, `{"a":1,"a":2}`}, toStrings(items), "items as sent, compacted; judged later, one by one")

	var verr *ValidationError
	for body, pointer := range map[string]string{
		`{"patients": []}`:             "/patients",
		`{"patients": null}`:           "/patients",
		`{"patients": {}}`:             "/patients",
		`{}`:                           "/patients",
		`{"patients": [{}], "x~y": 1}`: "/x~0y",
	} {
		_, err := ParseBatch([]byte(body))
		require.ErrorAs(t, err, &verr, body)
		require.Equal(t, pointer, verr.Fields[0].Pointer, body)
	}
	for _, bad := range []string{`[]`, `{"patients": [`, `{"patients": [], "patients": []}`, "{\"patients\": [\"\xff\"]}", `{"patients": []} {}`, `null`} {
		_, err := ParseBatch([]byte(bad))
		require.ErrorIs(t, err, ErrMalformed, bad)
	}
	_, err = ParseBatch([]byte(`{"patients": [` + strings.Repeat(`{},`, MaxBatchItems) + `{}]}`))
	require.ErrorIs(t, err, ErrTooManyItems)
	items, err = ParseBatch([]byte(`{"patients": [` + strings.Repeat(`{},`, MaxBatchItems-1) + `{}]}`))
	require.NoError(t, err)
	require.Len(t, items, MaxBatchItems)
}

func toStrings(items [][]byte) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it)
	}
	return out
}

// FuzzParseBatch: an accepted envelope has 1 to MaxBatchItems items, each
// one valid JSON, and the items put back into an envelope split the same.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte(`{"patients":[{"patient":{"id":"6f1c2a34-8f1e-4c4e-9d6b-0c1f2e3d4a5b","full-name":"Ada","dob":"1980-01-02"}},42]}`))
	f.Add([]byte(`{"patients":[],"patients":[]}`))
	f.Add([]byte(`{"patients":[[[[]]]],"x":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := ParseBatch(body)
		if err != nil {
			return
		}
		require.NotEmpty(t, items)
		require.LessOrEqual(t, len(items), MaxBatchItems)
		for _, it := range items {
			require.True(t, json.Valid(it))
		}
		again, err := ParseBatch(append(append([]byte(`{"patients":[`), bytes.Join(items, []byte(","))...), ']', '}'))
		require.NoError(t, err)
		require.Equal(t, items, again)
	})
}
