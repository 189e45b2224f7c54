// Package docs embeds the API description so the binary can serve it
// (GET /openapi.yaml) and tests can check it against the router.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, the OpenAPI 3.1 description of the HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte
