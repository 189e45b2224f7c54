package main

// openAPISpec is served at /openapi.yaml (set from docs/ once embedded).
var openAPISpec []byte
