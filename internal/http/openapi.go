package http

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPISpec is the OpenAPI 3.1 description of this API. openapi_test.go
// checks it against routes.go and against live responses.
//
//go:embed openapi.yaml
var openAPISpec []byte

// handleOpenAPI serves openAPISpec as written: YAML, as application/yaml,
// not JSON.
func handleOpenAPI() http.Handler {
	size := strconv.Itoa(len(openAPISpec))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/yaml")
		h.Set("Content-Length", size)
		h.Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(http.StatusOK)
		w.Write(openAPISpec)
	})
}
