package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 description of every route of Routes, kept
// beside the handlers it describes. openapi_test.go holds it to Routes and
// to the Go types' JSON names, so that neither can change without it.
//
//go:embed openapi.yaml
var openAPI []byte

// getOpenAPI answers GET /api/v1/openapi.yaml.
func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(openAPI)
	return err
}
