package main

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// Flags that cannot make a soak are refused before anything starts.
func TestRunRefusesBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--duration", "30s"},
		{"--duration", "1m", "--every", "20s"},
		{"--rate", "-1"},
		{"--every", "0s"},
		{"--no-such-flag"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		require.Error(t, err, "%v", args)
	}
}
