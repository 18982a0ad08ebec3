package server

import (
	_ "embed"
	"net/http"
)

// openapiJSON describes /api/v1 (OpenAPI 3.1); a test checks real answers
// against it.
//
//go:embed openapi.json
var openapiJSON []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiJSON)
}
