package docs_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/patientlink/patientlink/"

// docs/architecture.md's import table is what `go list` says: a new arrow
// between packages is a change to the architecture, made in both places.
func TestArchitectureImportTable(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("architecture.md")
	require.NoError(t, err)
	const start, end = "<!-- imports:start -->\n", "<!-- imports:end -->"
	s := string(doc)
	a, b := strings.Index(s, start), strings.Index(s, end)
	require.True(t, a >= 0 && b > a, "architecture.md lacks the imports markers")
	documented := map[string]string{}
	for _, line := range strings.Split(s[a+len(start):b], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[1]), "package") || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		documented[strings.TrimSpace(cells[1])] = strings.TrimSpace(cells[2])
	}

	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports ","}}`, "../cmd/...", "../internal/...")
	out, err := cmd.Output()
	require.NoError(t, err)
	actual := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		var ours []string
		for _, imp := range strings.Split(imports, ",") {
			if strings.HasPrefix(imp, module) {
				ours = append(ours, strings.TrimPrefix(imp, module))
			}
		}
		slices.Sort(ours)
		list := strings.Join(ours, ", ")
		if list == "" {
			list = "—"
		}
		actual[strings.TrimPrefix(pkg, module)] = list
	}
	// bench, chaos and soak are tools with many arrows of their own; the
	// table is about the service.
	for pkg := range actual {
		if strings.HasPrefix(pkg, "internal/bench") || strings.HasPrefix(pkg, "internal/chaos") || strings.HasPrefix(pkg, "internal/soak") {
			delete(actual, pkg)
		}
	}
	require.Equal(t, actual, documented, "docs/architecture.md's import table differs from go list")
}
