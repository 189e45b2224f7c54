// Package deploy holds what compose.yaml mounts, and the test that checks
// compose.yaml itself with compose-go, the library Docker Compose loads it
// with, where no Docker engine runs (.ci/compose-check.sh uses docker
// compose where one does).
package deploy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
)

// secrets compose.yaml must demand, each without a default.
var secrets = []string{
	"PATIENTLINK_PG_SUPERUSER_PASSWORD", "PATIENTLINK_OWNER_DB_PASSWORD", "PATIENTLINK_APP_DB_PASSWORD",
	"PATIENTLINK_RIVERUI_DB_PASSWORD", "PATIENTLINK_AUDITOR_DB_PASSWORD",
	"PATIENTLINK_TOKEN_SECRET", "PATIENTLINK_DATA_KEY", "PATIENTLINK_INDEX_CALLBACK_SECRET", "PATIENTLINK_ADMIN_TOKEN",
	"RIVER_BASIC_AUTH_USER", "RIVER_BASIC_AUTH_PASS", "PATIENTLINK_SINK_SECRET",
}

func load(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	dir, err := filepath.Abs("..")
	require.NoError(t, err)
	content, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	require.NoError(t, err)
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: content}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("patientlink", true) })
}

func allSet() map[string]string {
	env := map[string]string{}
	for _, s := range secrets {
		env[s] = "value-of-" + s
	}
	return env
}

// Must show (issue 15): without a secret, loading compose.yaml (what
// `docker compose config` does) fails naming the variable; with all of
// them it loads.
func TestComposeDemandsEverySecret(t *testing.T) {
	t.Parallel()
	_, err := load(t, allSet())
	require.NoError(t, err)

	_, err = load(t, map[string]string{})
	require.Error(t, err)
	require.Regexp(t, `required variable \w+ is missing a value`, err.Error())
	for _, s := range secrets {
		env := allSet()
		delete(env, s)
		_, err := load(t, env)
		require.Error(t, err, "compose.yaml loads without %s", s)
		require.Contains(t, err.Error(), s)
	}
	// Nothing falls back to a default written in the file.
	raw, err := os.ReadFile("../compose.yaml")
	require.NoError(t, err)
	for _, s := range secrets {
		require.NotRegexp(t, `\$\{`+s+`:?-`, string(raw), "%s has a default", s)
	}
}

// Each service logs in as its own role, none as the superuser; every image
// is pinned; River UI is v0.18.1 and PostgreSQL 15.
func TestComposeRolesAndImages(t *testing.T) {
	t.Parallel()
	p, err := load(t, allSet())
	require.NoError(t, err)
	user := func(service string) string {
		s, err := p.GetService(service)
		require.NoError(t, err)
		u := s.Environment["DATABASE_URL"]
		require.NotNil(t, u, service)
		m := regexp.MustCompile(`^postgres://([^:]+):`).FindStringSubmatch(*u)
		require.Len(t, m, 2, service)
		return m[1]
	}
	require.Equal(t, "patientlink_owner", user("migrate"))
	require.Equal(t, "patientlink_service", user("api"))
	require.Equal(t, "patientlink_service", user("worker"))
	require.Equal(t, "patientlink_riverui_web", user("riverui"))

	for name, s := range p.Services {
		image := s.Image
		require.NotEmpty(t, image, name)
		if image == "patientlink:local" {
			continue // built here
		}
		_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
		require.True(t, ok, "%s: image %s has no tag", name, image)
		require.NotContains(t, []string{"latest", "15", "17"}, tag, "%s: image %s is not pinned", name, image)
	}
	riverui, _ := p.GetService("riverui")
	require.Equal(t, "ghcr.io/riverqueue/riverui:v0.18.1", riverui.Image)
	pg, _ := p.GetService("postgres")
	require.True(t, strings.HasPrefix(pg.Image, "postgres:15."), pg.Image)
	require.True(t, slices.ContainsFunc(pg.Volumes, func(v types.ServiceVolumeConfig) bool {
		return strings.HasSuffix(v.Source, filepath.Join("deploy", "postgres", "init-roles.sh"))
	}), "the roles script is mounted")
	api, _ := p.GetService("api")
	for _, line := range strings.Split(api.Build.DockerfileInline, "\n") {
		if from, ok := strings.CutPrefix(strings.TrimSpace(line), "FROM "); ok {
			image, _, _ := strings.Cut(from, " ")
			require.Regexp(t, `:[0-9a-z.-]*[0-9][0-9a-z.-]*$`, image, "build image %s is not pinned", image)
		}
	}
}
