package migrations

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"
)

var updateRiver = flag.Bool("update-river", false, "rewrite River's migration files from the River module in go.mod")

// riverFiles renders River's own migrations as golang-migrate files. Each
// file also records its version in river_migration, so River's tooling
// (River UI, rivermigrate) sees the schema as migrated.
func riverFiles(t *testing.T) map[string]string {
	t.Helper()
	migrator, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	require.NoError(t, err)
	files := map[string]string{}
	for _, m := range migrator.AllVersions() {
		name := fmt.Sprintf("river_v%d_%s", m.Version, strings.TrimPrefix(strings.ReplaceAll(strings.ToLower(m.Name), " ", "_"), "river_"))
		up, down := render(m.SQLUp), render(m.SQLDown)
		switch {
		case m.Version < 5: // river_migration had no "line" column before v5
			up += fmt.Sprintf("\nINSERT INTO river_migration (version) VALUES (%d);\n", m.Version)
			if m.Version > 1 {
				down = fmt.Sprintf("DELETE FROM river_migration WHERE version = %d;\n\n", m.Version) + down
			}
		default:
			up += fmt.Sprintf("\nINSERT INTO river_migration (line, version) VALUES ('main', %d);\n", m.Version)
			down = fmt.Sprintf("DELETE FROM river_migration WHERE line = 'main' AND version = %d;\n\n", m.Version) + down
		}
		files[name+".up.sql"] = generatedHeader + up
		files[name+".down.sql"] = generatedHeader + down
	}
	return files
}

const generatedHeader = "-- Generated from River's migrations (go test ./migrations -update-river). Do not edit.\n\n"

func render(sql string) string {
	return strings.TrimSpace(strings.ReplaceAll(sql, "/* TEMPLATE: schema */", "")) + "\n"
}

// TestRiverMigrationsCurrent fails when River in go.mod ships migrations
// that our history lacks or differ from it: upgrade River, then run with
// -update-river. A River version new to us takes the next free number, so
// golang-migrate applies it after everything already in the history.
func TestRiverMigrationsCurrent(t *testing.T) {
	t.Parallel()
	entries, err := FS.ReadDir(".")
	require.NoError(t, err)
	existing := map[string]string{} // "river_vN_name.up.sql" → file name
	next := 1
	for _, e := range entries {
		num, rest, ok := strings.Cut(e.Name(), "_")
		require.True(t, ok, "migration %s has no number", e.Name())
		var n int
		_, err := fmt.Sscanf(num, "%06d", &n)
		require.NoError(t, err)
		next = max(next, n+1)
		if strings.HasPrefix(rest, "river_v") {
			existing[rest] = e.Name()
		}
	}
	want := riverFiles(t)
	numbers := map[int]int{} // River version → our migration number
	for rest, file := range existing {
		var n int
		_, _ = fmt.Sscanf(file, "%06d_", &n)
		numbers[riverVersion(rest)] = n
	}
	names := slices.Sorted(maps.Keys(want))
	slices.SortStableFunc(names, func(a, b string) int { return riverVersion(a) - riverVersion(b) })
	for _, name := range names {
		v := riverVersion(name)
		if _, ok := numbers[v]; !ok {
			require.True(t, *updateRiver, "missing River migration %s: run go test ./migrations -update-river", name)
			numbers[v] = next
			next++
		}
		file := fmt.Sprintf("%06d_%s", numbers[v], name)
		if *updateRiver {
			require.NoError(t, os.WriteFile(file, []byte(want[name]), 0o644))
			continue
		}
		got, err := FS.ReadFile(file)
		require.NoError(t, err, "missing River migration %s: run go test ./migrations -update-river", file)
		require.Equal(t, want[name], string(got), "River migration %s is stale", file)
	}
}

func riverVersion(name string) int {
	var v int
	_, _ = fmt.Sscanf(name, "river_v%d_", &v)
	return v
}
