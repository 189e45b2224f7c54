package httpapi

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
)

// routeMethods are the methods a route may serve; HEAD and OPTIONS are
// answered here for every route (RFC 9110 §9.3.2, §9.3.7).
var routeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods lists what router serves at r's path, for Allow: empty
// when the path is unknown.
func allowedMethods(router *mux.Router, r *http.Request) []string {
	var out []string
	for _, m := range routeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			out = append(out, m)
			if m == http.MethodGet {
				out = append(out, http.MethodHead)
			}
		}
	}
	if out != nil {
		out = append(out, http.MethodOptions)
	}
	return out
}

// withMethods answers OPTIONS with 204 and Allow, and HEAD as the GET of
// the same path without a body (the server drops the body of a HEAD
// answer). Every other method goes to the router, whose 405 carries Allow.
// CORS is off: no Access-Control-* header is ever sent.
func withMethods(router *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodOptions:
			allow := allowedMethods(router, r)
			if allow == nil {
				writeProblem(w, r, errNotFound)
				return
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			w.WriteHeader(http.StatusNoContent)
		case http.MethodHead:
			get := r.Clone(r.Context())
			get.Method = http.MethodGet
			router.ServeHTTP(w, get)
		default:
			router.ServeHTTP(w, r)
		}
	})
}

// methodNotAllowed is the router's 405, with Allow.
func methodNotAllowed(router *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(router, r), ", "))
		writeProblem(w, r, errMethodNotAllow)
	})
}

// withHeaderLimit answers 431 problem+json for header blocks over limit
// bytes. The server itself cuts off at limit plus its 4 KiB slack, in
// text/plain before any handler runs (docs/openapi.yaml says so): this
// makes the 431s it lets through problem+json.
func withHeaderLimit(limit int, next http.Handler) http.Handler {
	if limit <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
		for k, vs := range r.Header {
			for _, v := range vs {
				size += len(k) + len(v) + 4 // "k: v\r\n"
			}
		}
		if size > limit {
			writeProblem(w, r, problem(http.StatusRequestHeaderFieldsTooLarge, "headers-too-large", "Header fields too large", "the request's header block is over the limit"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
