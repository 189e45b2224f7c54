package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/patientlink/patientlink/docs"
)

// The contract test: every request the HTTP tests send through setup's
// server, and every answer, is validated against docs/openapi.yaml
// (kin-openapi). An answer the spec does not document — a status, a header
// or a body — fails the test that caused it; so does a 2xx to a request
// the spec calls invalid. TestMain prints how many answers were checked.

var validated atomic.Int64

type contract struct {
	doc    *openapi3.T
	router routers.Router
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(docs.OpenAPI)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml: %w", err)
	}
	doc.Servers = nil // match paths on any host: the test server's
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &contract{doc: doc, router: router}, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	fmt.Printf("contract: %d responses validated against docs/openapi.yaml\n", validated.Load())
	os.Exit(code)
}

// headers every answer may carry without the spec naming them.
var transportHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Date": true, "Transfer-Encoding": true,
	"Connection": true, "X-Request-Id": true, "X-Content-Type-Options": true,
}

// withContract wraps the server under test with the validator.
func withContract(t *testing.T, next http.Handler) http.Handler {
	c, err := loadContract()
	if err != nil {
		t.Fatalf("contract: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Up to 128 KiB of the body is kept for validation (the server
		// refuses more); a longer one streams through as it came.
		reqBody, _ := io.ReadAll(io.LimitReader(r.Body, 128<<10+1))
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(reqBody), r.Body))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())

		probe := r.Clone(context.Background())
		probe.Body = io.NopCloser(bytes.NewReader(reqBody))
		if problems := c.check(probe, rec); len(problems) > 0 {
			t.Errorf("contract: %s %s → %d: %s\nbody: %.300s", r.Method, r.URL.RequestURI(), rec.Code, strings.Join(problems, "; "), rec.Body.String())
		}
		validated.Add(1)
	})
}

// check validates one exchange and lists what the spec does not allow.
func (c *contract) check(r *http.Request, res *httptest.ResponseRecorder) []string {
	var problems []string
	if res.Header().Get("X-Request-Id") == "" {
		problems = append(problems, "no X-Request-Id")
	}
	method := r.Method
	if method == http.MethodHead {
		// HEAD is GET without the body, which the server drops on the
		// wire (TestMethods checks that).
		r.Method = http.MethodGet
	}
	route, params, err := c.router.FindRoute(r)
	// No operation, or a limit in front of every route: the answers the
	// spec gives any request.
	if err != nil || method == http.MethodOptions || res.Code == http.StatusRequestHeaderFieldsTooLarge {
		return append(problems, c.checkGeneric(method, err, res)...)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	// A request is validated when it was accepted: the spec must allow
	// what the server takes. (A refused one is checked by its answer.)
	if res.Code < 300 {
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
			problems = append(problems, "a request the spec calls invalid was accepted: "+err.Error())
		}
	}
	op := route.Operation
	resp := op.Responses.Status(res.Code)
	if resp == nil {
		return append(problems, fmt.Sprintf("status %d is not documented for %s %s", res.Code, method, route.Path))
	}
	problems = append(problems, undeclaredHeaders(res.Header(), resp.Value.Headers)...)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.Code, Header: res.Header(),
		Body: io.NopCloser(bytes.NewReader(res.Body.Bytes())),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true, MultiError: true,
			ExcludeResponseBody: method == http.MethodHead,
		},
	}
	if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

// checkGeneric validates answers outside any operation: unknown paths,
// other methods, OPTIONS, and the limits in front of the router.
func (c *contract) checkGeneric(method string, findErr error, res *httptest.ResponseRecorder) []string {
	name := map[int]string{
		http.StatusNotFound: "NotFound", http.StatusMethodNotAllowed: "MethodNotAllowed",
		http.StatusRequestHeaderFieldsTooLarge: "HeadersTooLarge",
	}[res.Code]
	if method == http.MethodOptions && res.Code == http.StatusNoContent {
		name = "Options"
	}
	ref := c.doc.Components.Responses[name]
	if name == "" || ref == nil {
		return []string{fmt.Sprintf("status %d is not documented for %s outside an operation (%v)", res.Code, method, findErr)}
	}
	problems := undeclaredHeaders(res.Header(), ref.Value.Headers)
	for h, hdr := range ref.Value.Headers {
		if hdr.Value.Required && res.Header().Get(h) == "" {
			problems = append(problems, "missing required header "+h)
		}
	}
	if ref.Value.Content == nil {
		if res.Body.Len() > 0 {
			problems = append(problems, "a body where the spec has none")
		}
		return problems
	}
	mt := ref.Value.Content.Get(res.Header().Get("Content-Type"))
	if mt == nil {
		return append(problems, "undocumented Content-Type "+res.Header().Get("Content-Type"))
	}
	var v any
	if err := jsonUnmarshal(res.Body.Bytes(), &v); err != nil {
		return append(problems, "body is not JSON: "+err.Error())
	}
	if err := mt.Schema.Value.VisitJSON(v); err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

func undeclaredHeaders(got http.Header, declared openapi3.Headers) []string {
	var out []string
	for h := range got {
		if transportHeaders[h] {
			continue
		}
		found := false
		for d := range declared {
			if strings.EqualFold(d, h) {
				found = true
			}
		}
		if !found {
			out = append(out, "undocumented header "+h)
		}
	}
	return out
}
