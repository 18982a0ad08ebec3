package server

import (
	"embed"
	"io/fs"
	"net/http"
)

// The console is static: one page and its script and style, embedded in
// the binary, talking to /api/v1 like any other client.
//
//go:embed console
var consoleFS embed.FS

func (s *Server) console() {
	sub, _ := fs.Sub(consoleFS, "console")
	page, _ := fs.ReadFile(sub, "index.html")
	index := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		w.Write(page)
	}
	for _, p := range []string{"GET /{$}", "GET /flows", "GET /flows/{name}", "GET /instances", "GET /instances/{id}",
		"GET /start", "GET /start/{name}", "GET /editor", "GET /editor/{path...}"} {
		s.handle(p, open, index)
	}
	files := http.FileServerFS(sub)
	s.handle("GET /assets/", open, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.StripPrefix("/assets/", files).ServeHTTP(w, r)
	})
}
