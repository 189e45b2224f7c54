package httpapi_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/patientlink/patientlink/docs"
	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/httpapi"
	"github.com/patientlink/patientlink/internal/metrics"
)

// spec is the part of docs/openapi.yaml these tests read.
type spec struct {
	OpenAPI    string                          `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		Schemas struct {
			ProblemType struct {
				AnyOf []struct {
					Const string `yaml:"const"`
				} `yaml:"anyOf"`
			} `yaml:"ProblemType"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadSpec(t *testing.T) spec {
	t.Helper()
	var s spec
	require.NoError(t, yaml.Unmarshal(docs.OpenAPI, &s), "docs/openapi.yaml is not valid YAML")
	return s
}

// pathParam matches a path parameter: mux's {workflowID} or the spec's
// {workflow-id}. They are compared by position, so names may differ.
var pathParam = regexp.MustCompile(`\{[^}]*\}`)

func routeKey(method, path string) string {
	return strings.ToUpper(method) + " " + pathParam.ReplaceAllString(path, "{}")
}

// specRoutes lists the spec's operations as "METHOD /path/{}" keys, and
// the ones served on the operator listener: x-listener: operator-only
// (never on the API address) and operator (there when the operator
// listener is set, else on the API address), with the spec's own
// spelling for messages.
func specRoutes(s spec) (all, operatorOnly, operator map[string]string) {
	all, operatorOnly, operator = map[string]string{}, map[string]string{}, map[string]string{}
	for path, item := range s.Paths {
		listener := ""
		if n, ok := item["x-listener"]; ok {
			listener = n.Value
		}
		for _, m := range httpMethods {
			if _, ok := item[m]; !ok {
				continue
			}
			k := routeKey(m, path)
			all[k] = strings.ToUpper(m) + " " + path
			switch listener {
			case "operator-only":
				operatorOnly[k] = all[k]
			case "operator":
				operator[k] = all[k]
			}
		}
	}
	return all, operatorOnly, operator
}

// routerRoutes walks the router as "METHOD /path/{}" keys.
func routerRoutes(t *testing.T, r *mux.Router) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil // a route without a path (a matcher-only subrouter)
		}
		methods, err := route.GetMethods()
		require.NoError(t, err, "route %s has no methods: give it .Methods(...) so the spec can describe it", tpl)
		for _, m := range methods {
			out[routeKey(m, tpl)] = m + " " + tpl
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func diff(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if _, ok := b[k]; !ok {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func TestOpenAPIVersion(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	require.Regexp(t, `^3\.1\.\d+$`, s.OpenAPI, "docs/openapi.yaml must declare openapi: 3.1.x")
	require.NotEmpty(t, s.Paths)
}

// Every route the two routers serve is in docs/openapi.yaml, every path the
// spec describes is served, and each listener serves what its marks say.
func TestOpenAPIRoutesMatchRouter(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	want, operatorOnly, operator := specRoutes(s)
	values := func(m ...map[string]string) []string {
		var out []string
		for _, mm := range m {
			out = append(out, slices.Collect(maps.Values(mm))...)
		}
		return out
	}

	// The operator listener: the operator routes, nothing else.
	op := routerRoutes(t, httpapi.OperatorRoutes(httpapi.Deps{Metrics: metrics.New()}))
	require.Empty(t, diff(op, want), "operator routes missing from docs/openapi.yaml")
	require.ElementsMatch(t, slices.Sorted(maps.Keys(op)), append(slices.Collect(maps.Keys(operatorOnly)), slices.Collect(maps.Keys(operator))...),
		"the operator listener serves what is marked x-listener: operator(-only)")

	// The API address without an operator listener: everything but the
	// operator-only routes.
	got := routerRoutes(t, httpapi.Routes(httpapi.Deps{Metrics: metrics.New()}))
	require.Empty(t, diff(got, want), "routes missing from docs/openapi.yaml")
	require.ElementsMatch(t, values(operatorOnly), diff(want, got), "only x-listener: operator-only routes may be absent from the API address")

	// With one, the operator routes go too.
	got = routerRoutes(t, httpapi.Routes(httpapi.Deps{Metrics: metrics.New(), Config: config.HTTP{OperatorAddr: "127.0.0.1:9090"}}))
	require.Empty(t, diff(got, want), "routes missing from docs/openapi.yaml")
	require.ElementsMatch(t, values(operatorOnly, operator), diff(want, got),
		"only routes marked x-listener: operator(-only) may be absent from the API address")
}

// Every problem type the package answers with is listed in the spec's
// ProblemType schema, and the spec lists no other.
func TestOpenAPIProblemTypes(t *testing.T) {
	t.Parallel()
	base, used := problemTypesInSource(t)
	require.NotEmpty(t, base, "const problemTypeBase not found")
	require.NotEmpty(t, used)

	s := loadSpec(t)
	documented := map[string]bool{}
	for _, c := range s.Components.Schemas.ProblemType.AnyOf {
		if c.Const != "" {
			slug, ok := strings.CutPrefix(c.Const, base)
			require.True(t, ok, "problem type %s does not start with %s", c.Const, base)
			documented[slug] = true
		}
	}
	var missing, stale []string
	for slug := range used {
		if !documented[slug] {
			missing = append(missing, slug)
		}
	}
	for slug := range documented {
		if !used[slug] {
			stale = append(stale, slug)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	require.Empty(t, missing, "problem types missing from components.schemas.ProblemType in docs/openapi.yaml")
	require.Empty(t, stale, "problem types in docs/openapi.yaml that internal/httpapi never answers with")
}

// problemTypesInSource reads the package's source for problemTypeBase and
// the slugs of problem(status, "slug", …) and problemTypeBase + "slug".
func problemTypesInSource(t *testing.T) (base string, slugs map[string]bool) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	slugs = map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if id.Name == "problemTypeBase" && i < len(n.Values) {
						base = stringLit(n.Values[i])
					}
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "problem" && len(n.Args) >= 2 {
					if s := stringLit(n.Args[1]); s != "" {
						slugs[s] = true
					}
				}
			case *ast.BinaryExpr:
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "problemTypeBase" && n.Op == token.ADD {
					if s := stringLit(n.Y); s != "" {
						slugs[s] = true
					}
				}
			}
			return true
		})
	}
	return base, slugs
}

func stringLit(e ast.Expr) string {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return s
}
