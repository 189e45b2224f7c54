package bench

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTop(t *testing.T) {
	t.Parallel()
	text := `File: patientlink
Showing nodes accounting for 750ms, 85.23% of 880ms total
      flat  flat%   sum%        cum   cum%
     240ms 27.27% 27.27%      240ms 27.27%  internal/runtime/syscall/linux.Syscall6
      20ms  2.27% 37.50%      200ms 22.73%  github.com/patientlink/patientlink/internal/workflow.(*Service).Deliver
      20ms  2.27% 42.05%       20ms  2.27%  internal/runtime/maps.(*Map).Used (inline)
`
	require.Equal(t, []ProfileLine{
		{Func: "internal/runtime/syscall/linux.Syscall6", FlatPct: 27.27, CumPct: 27.27},
		{Func: "github.com/patientlink/patientlink/internal/workflow.(*Service).Deliver", FlatPct: 2.27, CumPct: 22.73},
	}, parseTop(text, 2, func(string) bool { return true }))
	ours := parseTop(text, 5, func(fn string) bool { return strings.HasPrefix(fn, "github.com/patientlink/") })
	require.Len(t, ours, 1)
	require.Equal(t, "internal/runtime/maps.(*Map).Used", parseTop(text, 3, func(string) bool { return true })[2].Func)
}
