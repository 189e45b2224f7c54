package main

import "github.com/patientlink/patientlink/docs"

// openAPISpec is served at /openapi.yaml.
var openAPISpec = docs.OpenAPI
