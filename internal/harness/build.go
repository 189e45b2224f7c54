// Package harness runs patientlink the way its operators do, for the
// benchmark (cmd/linkbench), the reliability suite (cmd/chaos) and the
// end-to-end tests: it builds the binary, starts and kills its processes,
// finds loopback ports, waits for readiness, gives a process its
// environment and secrets, runs the private PostgreSQL and creates
// customers through the binary's own commands.
package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles ./cmd/patientlink of the module at moduleDir into
// dir/patientlink. overlay adds files (name → Go source) to package main at
// build time only, through go build -overlay: the work tree stays untouched.
func Build(ctx context.Context, moduleDir, dir string, overlay map[string]string) (string, error) {
	absModule, err := filepath.Abs(moduleDir)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "patientlink")
	args := []string{"build", "-o", bin}
	if len(overlay) > 0 {
		replace := map[string]string{}
		for name, src := range overlay {
			file := filepath.Join(dir, name)
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				return "", err
			}
			replace[filepath.Join(absModule, "cmd", "patientlink", name)] = file
		}
		b, _ := json.Marshal(map[string]map[string]string{"Replace": replace})
		overlayJSON := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(overlayJSON, b, 0o644); err != nil {
			return "", err
		}
		args = append(args, "-overlay", overlayJSON)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/patientlink")...)
	cmd.Dir = absModule
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/patientlink: %w\n%s", err, out)
	}
	return bin, nil
}

// ModuleRoot finds the directory holding go.mod, from dir upwards.
func ModuleRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found: run from inside the patientlink module")
		}
		dir = parent
	}
}

// InModule makes a relative path relative to the module root root.
func InModule(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}
